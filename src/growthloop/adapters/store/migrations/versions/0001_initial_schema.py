"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_accounts'))
    )
    op.create_table('app_state',
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('account', 'key', name=op.f('pk_app_state'))
    )
    op.create_table('angle_performance',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('angle', sa.String(length=64), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('avg_impressions', sa.Float(), nullable=True),
    sa.Column('avg_engagement_rate', sa.Float(), nullable=True),
    sa.Column('avg_followers', sa.Float(), nullable=True),
    sa.Column('total_followers', sa.Float(), nullable=True),
    sa.Column('posterior_mean', sa.Float(), nullable=True),
    sa.Column('ci_low', sa.Float(), nullable=True),
    sa.Column('ci_high', sa.Float(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_angle_performance_account_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_angle_performance')),
    sa.UniqueConstraint('account', 'angle', name='uq_angle_performance_value')
    )
    op.create_table('content_metadata',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('decision_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('in_reply_to', sa.String(length=64), nullable=True),
    sa.Column('tweet_id', sa.String(length=64), nullable=True),
    sa.Column('part_ids', sa.JSON(), nullable=True),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('angle', sa.String(length=64), nullable=False),
    sa.Column('tone', sa.String(length=64), nullable=False),
    sa.Column('format_strategy', sa.String(length=64), nullable=False),
    sa.Column('hook', sa.String(length=64), nullable=False),
    sa.Column('generator', sa.String(length=64), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('content_sha', sa.String(length=64), nullable=False),
    sa.Column('thread_parts', sa.JSON(), nullable=True),
    sa.Column('is_thread', sa.Boolean(), nullable=False),
    sa.Column('brief_insights', sa.JSON(), nullable=True),
    sa.Column('policy', sa.String(length=64), nullable=False),
    sa.Column('propensity', sa.Float(), nullable=False),
    sa.Column('propensities', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_content_metadata_account_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content_metadata')),
    sa.UniqueConstraint('decision_id', name=op.f('uq_content_metadata_decision_id'))
    )
    with op.batch_alter_table('content_metadata', schema=None) as batch_op:
        batch_op.create_index('ix_content_metadata_account_content_sha', ['account', 'content_sha'], unique=False)
        batch_op.create_index('ix_content_metadata_account_posted_at', ['account', 'posted_at'], unique=False)
        batch_op.create_index('ix_content_metadata_account_status', ['account', 'status'], unique=False)

    op.create_table('follower_snapshots',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('observed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('followers', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_follower_snapshots_account_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follower_snapshots'))
    )
    with op.batch_alter_table('follower_snapshots', schema=None) as batch_op:
        batch_op.create_index('ix_follower_snapshots_account_observed_at', ['account', 'observed_at'], unique=False)

    op.create_table('format_strategy_performance',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('format_strategy', sa.String(length=64), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('avg_impressions', sa.Float(), nullable=True),
    sa.Column('avg_engagement_rate', sa.Float(), nullable=True),
    sa.Column('avg_followers', sa.Float(), nullable=True),
    sa.Column('total_followers', sa.Float(), nullable=True),
    sa.Column('posterior_mean', sa.Float(), nullable=True),
    sa.Column('ci_low', sa.Float(), nullable=True),
    sa.Column('ci_high', sa.Float(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_format_strategy_performance_account_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_format_strategy_performance')),
    sa.UniqueConstraint('account', 'format_strategy', name='uq_format_strategy_performance_value')
    )
    op.create_table('generator_performance',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('generator', sa.String(length=64), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('avg_impressions', sa.Float(), nullable=True),
    sa.Column('avg_engagement_rate', sa.Float(), nullable=True),
    sa.Column('avg_followers', sa.Float(), nullable=True),
    sa.Column('total_followers', sa.Float(), nullable=True),
    sa.Column('posterior_mean', sa.Float(), nullable=True),
    sa.Column('ci_low', sa.Float(), nullable=True),
    sa.Column('ci_high', sa.Float(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_generator_performance_account_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_generator_performance')),
    sa.UniqueConstraint('account', 'generator', name='uq_generator_performance_value')
    )
    op.create_table('hook_performance',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('hook', sa.String(length=64), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('avg_impressions', sa.Float(), nullable=True),
    sa.Column('avg_engagement_rate', sa.Float(), nullable=True),
    sa.Column('avg_followers', sa.Float(), nullable=True),
    sa.Column('total_followers', sa.Float(), nullable=True),
    sa.Column('posterior_mean', sa.Float(), nullable=True),
    sa.Column('ci_low', sa.Float(), nullable=True),
    sa.Column('ci_high', sa.Float(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_hook_performance_account_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hook_performance')),
    sa.UniqueConstraint('account', 'hook', name='uq_hook_performance_value')
    )
    op.create_table('job_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('job', sa.String(length=32), nullable=False),
    sa.Column('scheduled_for', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('items_in', sa.Integer(), nullable=True),
    sa.Column('items_out', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('flagged', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('wall_ms', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_job_runs_account_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_runs')),
    sa.UniqueConstraint('account', 'job', 'scheduled_for', name='uq_job_runs_key')
    )
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.create_index('ix_job_runs_account_job_started', ['account', 'job', 'started_at'], unique=False)
        batch_op.create_index('ix_job_runs_account_status', ['account', 'status'], unique=False)

    op.create_table('job_schedule',
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('job', sa.String(length=32), nullable=False),
    sa.Column('interval_s', sa.Integer(), nullable=False),
    sa.Column('timeout_s', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('next_due', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_job_schedule_account_accounts')),
    sa.UniqueConstraint('account', 'job', name='uq_job_schedule_account_job')
    )
    op.create_table('llm_usage',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decision_id', sa.String(length=64), nullable=True),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('prompt_tokens', sa.Integer(), nullable=False),
    sa.Column('completion_tokens', sa.Integer(), nullable=False),
    sa.Column('cost_usd', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_llm_usage_account_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_llm_usage'))
    )
    op.create_table('metric_snapshots',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('decision_id', sa.String(length=64), nullable=False),
    sa.Column('tweet_id', sa.String(length=64), nullable=False),
    sa.Column('checkpoint', sa.String(length=8), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('observed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('impressions', sa.BigInteger(), nullable=True),
    sa.Column('likes', sa.BigInteger(), nullable=True),
    sa.Column('reposts', sa.BigInteger(), nullable=True),
    sa.Column('replies', sa.BigInteger(), nullable=True),
    sa.Column('quotes', sa.BigInteger(), nullable=True),
    sa.Column('bookmarks', sa.BigInteger(), nullable=True),
    sa.Column('profile_clicks', sa.BigInteger(), nullable=True),
    sa.Column('link_clicks', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_metric_snapshots_account_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_metric_snapshots')),
    sa.UniqueConstraint('decision_id', 'checkpoint', name='uq_metric_snapshots_decision_checkpoint')
    )
    op.create_table('post_attempts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('decision_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('platform_id', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_post_attempts_account_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_post_attempts'))
    )
    with op.batch_alter_table('post_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_post_attempts_account_started_at', ['account', 'started_at'], unique=False)

    op.create_table('post_attribution',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('decision_id', sa.String(length=64), nullable=False),
    sa.Column('tweet_id', sa.String(length=64), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('followers_before', sa.Integer(), nullable=True),
    sa.Column('followers_2h', sa.Integer(), nullable=True),
    sa.Column('followers_24h', sa.Integer(), nullable=True),
    sa.Column('followers_48h', sa.Integer(), nullable=True),
    sa.Column('window_delta', sa.Integer(), nullable=True),
    sa.Column('attributed_followers', sa.Float(), nullable=True),
    sa.Column('attributed_sd', sa.Float(), nullable=True),
    sa.Column('missing_reason', sa.Text(), nullable=True),
    sa.Column('method', sa.String(length=64), nullable=False),
    sa.Column('method_version', sa.String(length=16), nullable=False),
    sa.Column('final', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_post_attribution_account_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_post_attribution')),
    sa.UniqueConstraint('decision_id', name=op.f('uq_post_attribution_decision_id'))
    )
    op.create_table('reply_opportunities',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('platform_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('author', sa.String(length=128), nullable=False),
    sa.Column('author_followers', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('found_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('score_parts', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('decision_id', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_reply_opportunities_account_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reply_opportunities')),
    sa.UniqueConstraint('account', 'platform_id', name='uq_reply_opportunities_account_platform_id')
    )
    with op.batch_alter_table('reply_opportunities', schema=None) as batch_op:
        batch_op.create_index('ix_reply_opportunities_account_created_at', ['account', 'created_at'], unique=False)
        batch_op.create_index('ix_reply_opportunities_account_found_at', ['account', 'found_at'], unique=False)
        batch_op.create_index('ix_reply_opportunities_account_status', ['account', 'status'], unique=False)

    op.create_table('sim_follower_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delta', sa.Integer(), nullable=False),
    sa.Column('cause', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_sim_follower_events_account_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_follower_events'))
    )
    with op.batch_alter_table('sim_follower_events', schema=None) as batch_op:
        batch_op.create_index('ix_sim_follower_events_account_at', ['account', 'at'], unique=False)

    op.create_table('sim_posts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('platform_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('request_key', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('text_sha', sa.String(length=64), nullable=False),
    sa.Column('parts', sa.JSON(), nullable=False),
    sa.Column('dimensions', sa.JSON(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.JSON(), nullable=False),
    sa.Column('follows', sa.Integer(), nullable=False),
    sa.Column('expected_follows', sa.Float(), nullable=False),
    sa.Column('viral', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_sim_posts_account_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_posts')),
    sa.UniqueConstraint('account', 'seq', name='uq_sim_posts_account_seq'),
    sa.UniqueConstraint('platform_id', name=op.f('uq_sim_posts_platform_id'))
    )
    with op.batch_alter_table('sim_posts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sim_posts_text_sha'), ['text_sha'], unique=False)

    op.create_table('sim_rejections',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_sim_rejections_account_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_rejections'))
    )
    op.create_table('tone_performance',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('tone', sa.String(length=64), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('avg_impressions', sa.Float(), nullable=True),
    sa.Column('avg_engagement_rate', sa.Float(), nullable=True),
    sa.Column('avg_followers', sa.Float(), nullable=True),
    sa.Column('total_followers', sa.Float(), nullable=True),
    sa.Column('posterior_mean', sa.Float(), nullable=True),
    sa.Column('ci_low', sa.Float(), nullable=True),
    sa.Column('ci_high', sa.Float(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_tone_performance_account_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tone_performance')),
    sa.UniqueConstraint('account', 'tone', name='uq_tone_performance_value')
    )
    op.create_table('topic_performance',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('avg_impressions', sa.Float(), nullable=True),
    sa.Column('avg_engagement_rate', sa.Float(), nullable=True),
    sa.Column('avg_followers', sa.Float(), nullable=True),
    sa.Column('total_followers', sa.Float(), nullable=True),
    sa.Column('posterior_mean', sa.Float(), nullable=True),
    sa.Column('ci_low', sa.Float(), nullable=True),
    sa.Column('ci_high', sa.Float(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account'], ['accounts.name'], name=op.f('fk_topic_performance_account_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_topic_performance')),
    sa.UniqueConstraint('account', 'topic', name='uq_topic_performance_value')
    )


def downgrade() -> None:
    op.drop_table('topic_performance')
    op.drop_table('tone_performance')
    op.drop_table('sim_rejections')
    with op.batch_alter_table('sim_posts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sim_posts_text_sha'))

    op.drop_table('sim_posts')
    with op.batch_alter_table('sim_follower_events', schema=None) as batch_op:
        batch_op.drop_index('ix_sim_follower_events_account_at')

    op.drop_table('sim_follower_events')
    with op.batch_alter_table('reply_opportunities', schema=None) as batch_op:
        batch_op.drop_index('ix_reply_opportunities_account_status')
        batch_op.drop_index('ix_reply_opportunities_account_found_at')
        batch_op.drop_index('ix_reply_opportunities_account_created_at')

    op.drop_table('reply_opportunities')
    op.drop_table('post_attribution')
    with op.batch_alter_table('post_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_post_attempts_account_started_at')

    op.drop_table('post_attempts')
    op.drop_table('metric_snapshots')
    op.drop_table('llm_usage')
    op.drop_table('job_schedule')
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_job_runs_account_status')
        batch_op.drop_index('ix_job_runs_account_job_started')

    op.drop_table('job_runs')
    op.drop_table('hook_performance')
    op.drop_table('generator_performance')
    op.drop_table('format_strategy_performance')
    with op.batch_alter_table('follower_snapshots', schema=None) as batch_op:
        batch_op.drop_index('ix_follower_snapshots_account_observed_at')

    op.drop_table('follower_snapshots')
    with op.batch_alter_table('content_metadata', schema=None) as batch_op:
        batch_op.drop_index('ix_content_metadata_account_status')
        batch_op.drop_index('ix_content_metadata_account_posted_at')
        batch_op.drop_index('ix_content_metadata_account_content_sha')

    op.drop_table('content_metadata')
    op.drop_table('angle_performance')
    op.drop_table('app_state')
    op.drop_table('accounts')
