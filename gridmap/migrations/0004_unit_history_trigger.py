"""Every insert, change and delete of a grid unit writes its history (gridmap_unitversion).

A trigger, not Python: the admin, the loaders and the edit service all change units, and the
question "which grid was this point in on date D" must have an answer whichever did. The edit
service sets `gridmap.edit_id` for its transaction so the versions it writes name their edit.
A unit written twice in one transaction gets a version that was valid for no time at all
(valid_from = valid_to); point-in-time lookups never see it, the history still lists it.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION gridmap_unit_history() RETURNS trigger AS $$
DECLARE
    edit bigint := NULLIF(current_setting('gridmap.edit_id', true), '')::bigint;
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.version = OLD.version AND NEW.code = OLD.code AND NEW.name = OLD.name
       AND NEW.parent_id IS NOT DISTINCT FROM OLD.parent_id
       AND ST_AsBinary(NEW.geom) = ST_AsBinary(OLD.geom) THEN
        RETURN NEW;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE gridmap_unitversion SET valid_to = now()
         WHERE unit_id = OLD.id AND valid_to IS NULL;
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
    END IF;
    INSERT INTO gridmap_unitversion
           (unit_id, version, level, code, name, parent_id, geom, valid_from, valid_to, edit_id)
    VALUES (NEW.id, NEW.version, NEW.level, NEW.code, NEW.name, NEW.parent_id, NEW.geom,
            now(), NULL, edit);
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER gridmap_unit_history
AFTER INSERT OR UPDATE OR DELETE ON gridmap_gridunit
FOR EACH ROW EXECUTE FUNCTION gridmap_unit_history();

-- "Which units covered this point at time D" is a GiST probe on the geometry, then a time filter.
CREATE INDEX gridmap_unitversion_geom_gist ON gridmap_unitversion USING gist (geom);
CREATE UNIQUE INDEX gridmap_unitversion_one_open
    ON gridmap_unitversion (unit_id) WHERE valid_to IS NULL;

-- Units that exist already start their history at their creation.
INSERT INTO gridmap_unitversion
       (unit_id, version, level, code, name, parent_id, geom, valid_from, valid_to, edit_id)
SELECT id, version, level, code, name, parent_id, geom, created_at, NULL, NULL
  FROM gridmap_gridunit;

"""

BACKWARD = """
DROP TRIGGER gridmap_unit_history ON gridmap_gridunit;
DROP FUNCTION gridmap_unit_history();
DROP INDEX gridmap_unitversion_geom_gist;
DROP INDEX gridmap_unitversion_one_open;
DELETE FROM gridmap_unitversion;
"""


class Migration(migrations.Migration):
    dependencies = [("gridmap", "0003_unit_history")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
