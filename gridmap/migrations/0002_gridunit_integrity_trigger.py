"""Database-side guard of the hierarchy: a unit's parent is exactly one level up and its code
starts with the parent's code. Model validation says the same; the trigger also covers bulk
loads and raw SQL, so a broken hierarchy cannot be written at all."""

from django.db import migrations

CREATE = """
CREATE FUNCTION gridmap_gridunit_check_parent() RETURNS trigger AS $$
DECLARE
    p_level varchar;
    p_code varchar;
    expected varchar := CASE NEW.level
        WHEN 'segment' THEN 'network' WHEN 'node' THEN 'segment' WHEN 'grid' THEN 'node' END;
BEGIN
    IF NEW.parent_id IS NULL THEN
        RETURN NEW;
    END IF;
    IF NEW.level = 'network' THEN
        RAISE EXCEPTION '网域 % 没有上级 / network % has no parent', NEW.code, NEW.code
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT level, code INTO p_level, p_code FROM gridmap_gridunit WHERE id = NEW.parent_id;
    IF p_level IS DISTINCT FROM expected THEN
        RAISE EXCEPTION '% 的上级必须是 % / the parent of a % must be a %',
            NEW.code, expected, NEW.level, expected USING ERRCODE = 'check_violation';
    END IF;
    IF left(NEW.code, length(p_code)) <> p_code THEN
        RAISE EXCEPTION '编码 % 必须以上级编码 % 开头 / code % must start with its parent''s code %',
            NEW.code, p_code, NEW.code, p_code USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER gridmap_gridunit_check_parent
    BEFORE INSERT OR UPDATE OF parent_id, code, level ON gridmap_gridunit
    FOR EACH ROW EXECUTE FUNCTION gridmap_gridunit_check_parent();
"""

DROP = """
DROP TRIGGER IF EXISTS gridmap_gridunit_check_parent ON gridmap_gridunit;
DROP FUNCTION IF EXISTS gridmap_gridunit_check_parent();
"""


class Migration(migrations.Migration):
    dependencies = [("gridmap", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
