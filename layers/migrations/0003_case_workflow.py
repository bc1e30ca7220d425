"""The case workflow: escalation level, deadline, department, rating, closing time and update
time of a case; its timeline (IncidentTransition); deadlines per category (CaseDeadline).

`reported_grid_code` is filled by a trigger, not by Python: the assignment service sets
`reported_grid` in SQL (and the loaders and the admin save incidents too), and the code must
survive the grid being merged away later, when gridmap.editing sets `reported_grid` to NULL.
Once set, the code is never blanked, whoever writes the row.
"""

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


REPORTED_GRID_CODE = """
CREATE FUNCTION layers_incident_reported_grid_code() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.reported_grid_code = '' THEN
        NEW.reported_grid_code := OLD.reported_grid_code;
    END IF;
    IF NEW.reported_grid_code = '' AND NEW.reported_grid_id IS NOT NULL THEN
        NEW.reported_grid_code := COALESCE(
            (SELECT code FROM gridmap_gridunit WHERE id = NEW.reported_grid_id), '');
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER layers_incident_reported_grid_code
BEFORE INSERT OR UPDATE ON layers_incident
FOR EACH ROW EXECUTE FUNCTION layers_incident_reported_grid_code();

UPDATE layers_incident i SET reported_grid_code = g.code
  FROM gridmap_gridunit g
 WHERE g.id = i.reported_grid_id AND i.reported_grid_code = '';
"""

DROP_REPORTED_GRID_CODE = """
DROP TRIGGER layers_incident_reported_grid_code ON layers_incident;
DROP FUNCTION layers_incident_reported_grid_code();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('gridmap', '0004_unit_history_trigger'),
        ('layers', '0002_household_follows_building_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='CaseDeadline',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('category', models.CharField(choices=[('environment', '市容环境'), ('advertising', '宣传广告'), ('construction', '施工管理'), ('emergency', '突发事件'), ('street_order', '街面秩序'), ('extended', '扩展事件'), ('dispute', '矛盾纠纷'), ('property_dispute', '物业纠纷'), ('parking', '停车'), ('noise', '噪音扰民'), ('safety_hazard', '安全隐患')], max_length=20, unique=True, verbose_name='类别')),
                ('hours', models.PositiveIntegerField(validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(2160)], verbose_name='时限（小时）')),
            ],
            options={
                'verbose_name': '处置时限',
                'verbose_name_plural': '处置时限',
                'ordering': ['category'],
            },
        ),
        migrations.CreateModel(
            name='IncidentTransition',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('action', models.CharField(choices=[('open', '受理'), ('verify', '立案'), ('cancel', '作废'), ('dispatch', '派遣'), ('start', '开始处理'), ('feedback', '处理反馈'), ('close', '核查结案'), ('send_back', '核查不通过，重新派遣'), ('rate', '综合评价'), ('extend', '延期'), ('backlog', '挂账'), ('resume', '恢复处理'), ('escalate', '上报上级'), ('report', '重复上报')], max_length=10, verbose_name='操作')),
                ('from_status', models.CharField(blank=True, choices=[('received', '接单受理'), ('verified', '现场核实'), ('dispatched', '任务派遣'), ('handling', '任务处理'), ('feedback', '处理反馈'), ('closed', '核查结案'), ('rated', '综合评价'), ('cancelled', '作废'), ('backlog', '挂账')], max_length=12, verbose_name='原状态')),
                ('to_status', models.CharField(choices=[('received', '接单受理'), ('verified', '现场核实'), ('dispatched', '任务派遣'), ('handling', '任务处理'), ('feedback', '处理反馈'), ('closed', '核查结案'), ('rated', '综合评价'), ('cancelled', '作废'), ('backlog', '挂账')], max_length=12, verbose_name='新状态')),
                ('from_level', models.CharField(blank=True, choices=[('network', '网域 network'), ('segment', '网段 segment'), ('node', '网节 node'), ('grid', '网格 grid')], max_length=8, verbose_name='原层级')),
                ('to_level', models.CharField(choices=[('network', '网域 network'), ('segment', '网段 segment'), ('node', '网节 node'), ('grid', '网格 grid')], max_length=8, verbose_name='新层级')),
                ('username', models.CharField(blank=True, max_length=150, verbose_name='操作人账号')),
                ('at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='时间')),
                ('note', models.TextField(blank=True, verbose_name='说明')),
                ('photo', models.FileField(blank=True, upload_to='incidents/%Y/%m/', verbose_name='照片')),
                ('data', models.JSONField(blank=True, default=dict, verbose_name='数据')),
            ],
            options={
                'verbose_name': '办理记录',
                'verbose_name_plural': '办理记录',
                'ordering': ['at', 'id'],
            },
        ),
        migrations.AddField(
            model_name='incident',
            name='closed_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='结案时间'),
        ),
        migrations.AddField(
            model_name='incident',
            name='deadline',
            field=models.DateTimeField(blank=True, db_index=True, null=True, verbose_name='处置时限'),
        ),
        migrations.AddField(
            model_name='incident',
            name='department',
            field=models.CharField(blank=True, max_length=100, verbose_name='承办部门'),
        ),
        migrations.AddField(
            model_name='incident',
            name='level',
            field=models.CharField(choices=[('network', '网域 network'), ('segment', '网段 segment'), ('node', '网节 node'), ('grid', '网格 grid')], default='grid', max_length=8, verbose_name='处置层级'),
        ),
        migrations.AddField(
            model_name='incident',
            name='rating',
            field=models.PositiveSmallIntegerField(blank=True, null=True, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(5)], verbose_name='评价'),
        ),
        migrations.AddField(
            model_name='incident',
            name='reported_grid_code',
            field=models.CharField(blank=True, editable=False, max_length=15, verbose_name='上报时所在网格编码'),
        ),
        migrations.AddField(
            model_name='incident',
            name='updated_at',
            field=models.DateTimeField(auto_now=True, verbose_name='更新时间'),
        ),
        migrations.AddConstraint(
            model_name='incident',
            constraint=models.CheckConstraint(condition=models.Q(('rating__isnull', True), models.Q(('rating__gte', 1), ('rating__lte', 5)), _connector='OR'), name='incident_rating_1_to_5'),
        ),
        migrations.AddConstraint(
            model_name='casedeadline',
            constraint=models.CheckConstraint(condition=models.Q(('hours__gte', 1)), name='casedeadline_hours_positive'),
        ),
        migrations.AddField(
            model_name='incidenttransition',
            name='incident',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='transitions', to='layers.incident', verbose_name='事件'),
        ),
        migrations.AddField(
            model_name='incidenttransition',
            name='user',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='incident_transitions', to=settings.AUTH_USER_MODEL, verbose_name='操作人'),
        ),
        migrations.AddIndex(
            model_name='incidenttransition',
            index=models.Index(fields=['incident', 'at'], name='incidenttransition_timeline'),
        ),
        migrations.RunSQL(REPORTED_GRID_CODE, DROP_REPORTED_GRID_CODE),
    ]
