"""The store's schema as numbered, append-only migrations.

Never edit a migration that has shipped: add a new one. A store whose version is
higher than :data:`LATEST` was written by a newer nbflow and is refused.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "runs, steps, outputs, events",
        """
        CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            job_name VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            tags JSON,
            run_config JSON,
            partition_key VARCHAR,
            parent_run_id VARCHAR,
            root_run_id VARCHAR,
            start_time TIMESTAMPTZ,
            end_time TIMESTAMPTZ,
            error VARCHAR,
            backend VARCHAR,
            pid INTEGER,
            hostname VARCHAR
        );
        CREATE TABLE steps (
            run_id VARCHAR NOT NULL,
            step_key VARCHAR NOT NULL,
            op VARCHAR NOT NULL,
            mapping_key VARCHAR,
            key_index BIGINT,
            status VARCHAR NOT NULL,
            attempts INTEGER,
            start_time TIMESTAMPTZ,
            end_time TIMESTAMPTZ,
            error VARCHAR,
            code_version VARCHAR
        );
        CREATE TABLE outputs (
            run_id VARCHAR NOT NULL,
            step_key VARCHAR NOT NULL,
            op VARCHAR NOT NULL,
            mapping_key VARCHAR,
            key_index BIGINT,
            output_name VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            json_value VARCHAR,
            blob_value BLOB,
            table_name VARCHAR,
            type_name VARCHAR
        );
        CREATE TABLE events (
            run_id VARCHAR NOT NULL,
            ts TIMESTAMPTZ NOT NULL,
            step_key VARCHAR,
            kind VARCHAR NOT NULL,
            level VARCHAR,
            message VARCHAR
        );
        CREATE SCHEMA frames;
        """,
    ),
    (
        2,
        "reruns: where reused steps and outputs came from",
        """
        ALTER TABLE steps ADD COLUMN reused_from VARCHAR;
        ALTER TABLE outputs ADD COLUMN from_run_id VARCHAR;
        """,
    ),
    (
        3,
        "dynamic partitions, their history, and asset materializations",
        """
        CREATE SEQUENCE partition_seq;
        CREATE TABLE partitions (
            def_name VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            seq BIGINT NOT NULL,
            added_at TIMESTAMPTZ NOT NULL,
            valid_from TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE partition_events (
            def_name VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            ts TIMESTAMPTZ NOT NULL,
            source VARCHAR,
            source_id VARCHAR
        );
        CREATE TABLE materializations (
            asset VARCHAR NOT NULL,
            partition_key VARCHAR,
            run_id VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            ts TIMESTAMPTZ NOT NULL
        );
        ALTER TABLE runs ADD COLUMN partitions_def VARCHAR;
        """,
    ),
    (
        4,
        "sensors: state, cursor history, ticks, run keys",
        """
        CREATE TABLE sensor_state (
            sensor VARCHAR NOT NULL,
            cursor VARCHAR,
            status VARCHAR NOT NULL,
            reason VARCHAR,
            failures INTEGER NOT NULL,
            pid INTEGER,
            hostname VARCHAR,
            started_at TIMESTAMPTZ,
            last_tick_time TIMESTAMPTZ,
            last_run_key VARCHAR,
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE sensor_cursors (
            sensor VARCHAR NOT NULL,
            ts TIMESTAMPTZ NOT NULL,
            cursor VARCHAR,
            source VARCHAR NOT NULL,
            tick_id VARCHAR
        );
        CREATE TABLE sensor_ticks (
            tick_id VARCHAR NOT NULL,
            sensor VARCHAR NOT NULL,
            start_time TIMESTAMPTZ NOT NULL,
            end_time TIMESTAMPTZ NOT NULL,
            status VARCHAR NOT NULL,
            origin VARCHAR,
            cursor_before VARCHAR,
            cursor_after VARCHAR,
            skip_reason VARCHAR,
            partitions_added JSON,
            partitions_deleted JSON,
            run_ids JSON,
            run_keys_skipped JSON,
            error VARCHAR,
            logs JSON
        );
        CREATE TABLE sensor_run_keys (
            sensor VARCHAR NOT NULL,
            run_key VARCHAR NOT NULL,
            run_id VARCHAR NOT NULL,
            ts TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        5,
        "the shape of a run's job graph, to draw it without the job's definition",
        """
        ALTER TABLE runs ADD COLUMN graph JSON;
        """,
    ),
    (
        6,
        "runs: heartbeat, when the process running a run last said it is alive (epoch seconds)",
        """
        ALTER TABLE runs ADD COLUMN heartbeat DOUBLE;
        """,
    ),
    (
        7,
        "a count of partition deletes, so a process can bring its index of keys up to date "
        "after another process's adds instead of reloading it",
        """
        INSERT OR IGNORE INTO nbflow_meta VALUES ('partition_deletes', 0);
        """,
    ),
]

LATEST = MIGRATIONS[-1][0]

META = "CREATE TABLE IF NOT EXISTS nbflow_meta (key VARCHAR PRIMARY KEY, value BIGINT NOT NULL)"
