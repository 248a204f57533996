-- Period aggregates of the daily size history, written by `aggregate` jobs.
--
-- * `database_size_aggregations`: one row per (instance, database, period
--   type, period start); `instance_size_aggregations`: one per (instance,
--   period type, period start), from the instance's daily totals. A run
--   replaces the rows of its instance and period whole, so a re-run after
--   late data corrects them and never duplicates them.
-- * `period_type`: `daily`, `weekly` (ISO, Monday to Sunday), `monthly`,
--   `quarterly` or `yearly`; `period_end` is the period's last calendar
--   day, in the future for a current period.
-- * Sizes in MiB; averages over the days with data only, rounded half away
--   from zero. `sample_count` is the number of those days, `first_date`
--   and `last_date` the first and last of them.
-- * `size_change_mb`, `size_change_percent` and `trend` compare the
--   average with the previous calendar period's: NULL and `unknown` when
--   that period has no data (the percent is also NULL when it averaged
--   0 MiB). `growth_rate_mb_per_day` is the rate inside the period, NULL
--   with a single day of data.

CREATE TABLE database_size_aggregations (
    instance_id            BIGINT           NOT NULL REFERENCES instances (id),
    database_name          TEXT             NOT NULL,
    period_type            VARCHAR(16)      NOT NULL,
    period_start           DATE             NOT NULL,
    period_end             DATE             NOT NULL,
    avg_size_mb            BIGINT           NOT NULL,
    max_size_mb            BIGINT           NOT NULL,
    min_size_mb            BIGINT           NOT NULL,
    sample_count           BIGINT           NOT NULL,
    first_date             DATE             NOT NULL,
    last_date              DATE             NOT NULL,
    size_change_mb         BIGINT,
    size_change_percent    DOUBLE PRECISION,
    growth_rate_mb_per_day DOUBLE PRECISION,
    trend                  VARCHAR(16)      NOT NULL,
    calculated_at          TIMESTAMPTZ      NOT NULL,
    PRIMARY KEY (instance_id, database_name, period_type, period_start)
);

CREATE INDEX database_size_aggregations_period
    ON database_size_aggregations (instance_id, period_type, period_start);

CREATE TABLE instance_size_aggregations (
    instance_id            BIGINT           NOT NULL REFERENCES instances (id),
    period_type            VARCHAR(16)      NOT NULL,
    period_start           DATE             NOT NULL,
    period_end             DATE             NOT NULL,
    avg_size_mb            BIGINT           NOT NULL,
    max_size_mb            BIGINT           NOT NULL,
    min_size_mb            BIGINT           NOT NULL,
    sample_count           BIGINT           NOT NULL,
    first_date             DATE             NOT NULL,
    last_date              DATE             NOT NULL,
    size_change_mb         BIGINT,
    size_change_percent    DOUBLE PRECISION,
    growth_rate_mb_per_day DOUBLE PRECISION,
    trend                  VARCHAR(16)      NOT NULL,
    calculated_at          TIMESTAMPTZ      NOT NULL,
    PRIMARY KEY (instance_id, period_type, period_start)
);
