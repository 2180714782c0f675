"""A check's outcome, reported the two ways a run can: as a result of the asset it checks (the run
materializes that asset) or as an evaluation event (the run did the asset's work from another op:
the ingest job's checks on what it wrote, the inline detection of a micro-batch)."""

from dataclasses import dataclass

import dagster as dg


@dataclass(frozen=True)
class Check:
    asset: str
    name: str
    passed: bool
    metadata: dict
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
    description: str | None = None

    def result(self) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(check_name=self.name, passed=self.passed, severity=self.severity,
                                   description=self.description, metadata=self.metadata)

    def evaluation(self) -> dg.AssetCheckEvaluation:
        return dg.AssetCheckEvaluation(asset_key=dg.AssetKey(self.asset), check_name=self.name, passed=self.passed,
                                       severity=self.severity, description=self.description, metadata=self.metadata)
