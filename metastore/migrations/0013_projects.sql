-- Projects are namespaces. Spec versions are numbered per project: the
-- key becomes (project, version), and apply numbers the next version of
-- its project itself (versions already stored keep their numbers, which
-- were unique across projects and so are unique within each).
ALTER TABLE sluice.spec_versions DROP CONSTRAINT spec_versions_pkey;
ALTER TABLE sluice.spec_versions ALTER COLUMN version DROP DEFAULT;
DROP SEQUENCE IF EXISTS sluice.spec_versions_version_seq;
ALTER TABLE sluice.spec_versions ADD PRIMARY KEY (project, version);
DROP INDEX IF EXISTS sluice.spec_versions_project;

-- Model names become <project>.<model>: `sluice migrate --project` renames
-- a first-release model, and its versions and aliases follow.
ALTER TABLE sluice.model_versions DROP CONSTRAINT model_versions_model_fkey,
    ADD CONSTRAINT model_versions_model_fkey FOREIGN KEY (model) REFERENCES sluice.models (name) ON UPDATE CASCADE;
ALTER TABLE sluice.model_aliases DROP CONSTRAINT model_aliases_model_version_fkey,
    ADD CONSTRAINT model_aliases_model_version_fkey FOREIGN KEY (model, version)
        REFERENCES sluice.model_versions (model, version) ON UPDATE CASCADE;
