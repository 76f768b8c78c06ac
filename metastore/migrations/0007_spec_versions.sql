-- Every applied version of the project spec: its text, where it was
-- applied from (relative paths in it resolve there), and who applied it.
CREATE TABLE sluice.spec_versions (
    version    serial      PRIMARY KEY,
    project    text        NOT NULL,
    content    text        NOT NULL,
    sha256     text        NOT NULL,
    base_dir   text        NOT NULL,
    applied_by text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX spec_versions_project ON sluice.spec_versions (project, version DESC);
