-- The model registry: models, their versions (what each was made from),
-- aliases such as champion and challenger, and every alias move.
CREATE TABLE sluice.models (
    name       text        PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sluice.model_versions (
    model              text        NOT NULL REFERENCES sluice.models (name),
    version            integer     NOT NULL,
    algorithm          text        NOT NULL DEFAULT '',
    params             jsonb       NOT NULL DEFAULT '{}',
    metrics            jsonb       NOT NULL DEFAULT '{}',
    -- table name -> Iceberg snapshot id of every table the version read
    training_snapshots jsonb       NOT NULL DEFAULT '{}',
    spec_version       text        NOT NULL DEFAULT '',
    feature_schema     jsonb       NOT NULL DEFAULT '[]',
    artifact_key       text        NOT NULL,
    workflow_id        text        NOT NULL DEFAULT '',
    run_id             text        NOT NULL DEFAULT '',
    code_version       text        NOT NULL DEFAULT '',
    gate_report        jsonb,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version)
);
-- A run registers one version: a retried registration finds it.
CREATE UNIQUE INDEX model_versions_run ON sluice.model_versions (model, run_id) WHERE run_id <> '';

CREATE TABLE sluice.model_aliases (
    model      text        NOT NULL,
    alias      text        NOT NULL,
    version    integer     NOT NULL,
    moved_at   timestamptz NOT NULL,
    moved_by   text        NOT NULL,
    reason     text        NOT NULL,
    PRIMARY KEY (model, alias),
    FOREIGN KEY (model, version) REFERENCES sluice.model_versions (model, version)
);

CREATE TABLE sluice.model_alias_history (
    id           bigserial   PRIMARY KEY,
    model        text        NOT NULL,
    alias        text        NOT NULL,
    from_version integer,
    to_version   integer,
    moved_at     timestamptz NOT NULL,
    moved_by     text        NOT NULL,
    reason       text        NOT NULL
);
CREATE INDEX model_alias_history_alias ON sluice.model_alias_history (model, alias, id DESC);
