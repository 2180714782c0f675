"""What Dagster's event log says about freshness: the storage ids and times of the latest materializations,
and the rule the one-shot run and the model sensor share ("an input was materialized after me")."""

import dagster as dg


def latest_ids(instance: dg.DagsterInstance, key: str) -> dict[str, int]:
    """Partition key -> storage id of its latest materialization."""
    return dict(instance.get_latest_storage_id_by_partition(dg.AssetKey(key), dg.DagsterEventType.ASSET_MATERIALIZATION))


def latest_id(instance: dg.DagsterInstance, key: str) -> int:
    """Storage id of an asset's latest materialization (any partition); -1 if never materialized."""
    records = instance.fetch_materializations(dg.AssetKey(key), limit=1).records
    return records[0].storage_id if records else -1


def materialized_at(instance: dg.DagsterInstance, key: str, partition: str) -> float | None:
    """When a partition of an asset was last materialized (Unix time); None if never."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[partition]), limit=1).records
    return records[0].timestamp if records else None


def stale(instance: dg.DagsterInstance, key: str, deps: list[str]) -> bool:
    """A non-partitioned asset is stale when it never ran or an input was materialized after it."""
    own = latest_id(instance, key)
    return own < 0 or any(latest_id(instance, d) > own for d in deps)
