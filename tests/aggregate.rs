//! `aggregate` on both store backends: seeded daily histories (filed the
//! way a capacity job files them) and the aggregates the job must write,
//! computed by hand below each seed; re-runs; the time zone of "today";
//! and a batch of the kind through the fleet, for an instance that is down.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use common::{Backend, Fleet, World};
use dbfleet::aggregate::Trend;
use dbfleet::domain::DbType;
use dbfleet::fleet::dispatcher::{self, BatchRequest, Selection};
use dbfleet::jobs::{Aggregate, Clock, Context, Failure, Job};
use dbfleet::message::aggregate::{Output, Params, PeriodType};
use dbfleet::message::{ErrorClass, JobParams};
use dbfleet::secret::PasswordRef;
use dbfleet::store::{AggregateQuery, BatchStatus, Filing, Instance, StatRow, StoredAggregate};

on_both_backends!(
    monthly_aggregates_across_the_year_and_month_boundaries,
    quarterly_yearly_weekly_and_daily_aggregates,
    the_trend_turns_strictly_beyond_five_percent,
    a_rerun_replaces_the_rows_and_a_late_day_corrects_them,
    today_is_the_day_in_the_configured_time_zone,
    the_current_period_is_aggregated_when_asked_and_no_period_is_refused,
    a_batch_aggregates_an_instance_that_is_down,
);

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// File `sizes` as `day`'s database sizes of `instance`, as a capacity job
/// files them (the day's instance total with them).
async fn seed(world: &World, instance: &Instance, day: &str, sizes: &[(&str, i64)]) {
    let at = d(day).and_hms_opt(3, 0, 0).unwrap().and_utc();
    let measured = sizes
        .iter()
        .map(|(name, mb)| StatRow {
            database_name: name.to_string(),
            size_mb: *mb,
            data_size_mb: None,
            log_size_mb: None,
            method: None,
            collected_at: at,
        })
        .collect();
    let filing = Filing {
        measured,
        ..Filing::new(d(day), at)
    };
    world.store.runs().file(instance.id, &filing).await.unwrap();
}

/// One `aggregate` job on `instance` at `clock`, filed as a worker files it.
async fn run_at(world: &World, instance: &Instance, params: Params, clock: Clock) -> Output {
    let (settings, filters) = (&world.settings, &world.filters);
    let ctx = Context::new(instance, &world.store, filters, &settings.job, clock);
    let output = Aggregate::run(&ctx, &params).await.unwrap();
    ctx.file().await.unwrap();
    output
}

/// The job for `periods`, counted from `date`.
async fn run(world: &World, instance: &Instance, periods: &[PeriodType], date: &str) -> Output {
    let params = Params {
        periods: Some(periods.to_vec()),
        current: false,
        date: Some(d(date)),
    };
    let clock = Clock::system(world.settings.timezone);
    run_at(world, instance, params, clock).await
}

async fn stored(world: &World, instance: &Instance, period: PeriodType) -> Vec<StoredAggregate> {
    let query = AggregateQuery {
        period: Some(period),
        ..AggregateQuery::default()
    };
    let aggregates = world.store.aggregates();
    aggregates.list(instance.id, &query).await.unwrap()
}

/// The row of `database` (`None`: the instance's) starting on `start`.
fn row<'a>(
    rows: &'a [StoredAggregate],
    database: Option<&str>,
    start: &str,
) -> &'a StoredAggregate {
    rows.iter()
        .find(|r| r.database.as_deref() == database && r.period_start == d(start))
        .unwrap_or_else(|| panic!("no row for {database:?} from {start} in {rows:#?}"))
}

/// What a test expects of a row: avg, max, min, days, first, last.
fn check(r: &StoredAggregate, figures: (i64, i64, i64, i64), days: (&str, &str)) {
    let a = &r.figures;
    let found = (a.avg_size_mb, a.max_size_mb, a.min_size_mb, a.sample_count);
    assert_eq!(found, figures, "{r:#?}");
    assert_eq!(
        (a.first_date, a.last_date),
        (d(days.0), d(days.1)),
        "{r:#?}"
    );
}

/// The change against the previous period: MiB, percent, trend.
fn check_change(r: &StoredAggregate, mb: Option<i64>, percent: Option<f64>, trend: Trend) {
    let a = &r.figures;
    assert_eq!(
        (a.size_change_mb, a.size_change_percent, a.trend),
        (mb, percent, trend),
        "{r:#?}"
    );
}

/// The history most tests share, on one instance: database `app` on a
/// few days around the turn of 2025 and the first quarter of 2026 (most
/// days missing), and database `logs` on one day of February only.
async fn seeded(world: &World, name: &str) -> Instance {
    let instance = world.add_postgres(name).await;
    for (day, app) in [
        ("2025-12-30", 90),
        ("2025-12-31", 100),
        ("2026-01-01", 110),
        ("2026-01-31", 120),
        ("2026-02-01", 130),
        ("2026-02-02", 140),
        ("2026-03-31", 150),
        ("2026-04-01", 160),
    ] {
        seed(world, &instance, day, &[("app", app)]).await;
    }
    seed(world, &instance, "2026-02-10", &[("logs", 50)]).await;
    instance
}

/// January against December (a year boundary), then February against
/// January (a month boundary, where `logs` has no previous data).
async fn monthly_aggregates_across_the_year_and_month_boundaries(backend: Backend) {
    let world = World::on(backend).await;
    let instance = seeded(&world, "agg-monthly").await;

    // Counted from 2026-02-15, the last completed month is January.
    let out = run(&world, &instance, &[PeriodType::Monthly], "2026-02-15").await;
    let p = &out.periods[0];
    assert_eq!(
        (p.start, p.end, p.databases, p.instance_row),
        (d("2026-01-01"), d("2026-01-31"), 1, true)
    );
    let rows = stored(&world, &instance, PeriodType::Monthly).await;
    let jan = row(&rows, Some("app"), "2026-01-01");
    // Two days of 31: (110 + 120) / 2 = 115; the 29 missing days do not count.
    check(jan, (115, 120, 110, 2), ("2026-01-01", "2026-01-31"));
    assert_eq!(jan.period_end, d("2026-01-31"));
    // (120 − 110) / 30 days = 0.333 → 0.33 MiB a day.
    assert_eq!(jan.figures.growth_rate_mb_per_day, Some(0.33));
    // December: (90 + 100) / 2 = 95. 115 − 95 = 20; 20 / 95 = 21.05 %.
    check_change(jan, Some(20), Some(21.05), Trend::Growing);

    // Counted from 2026-03-01: February.
    let out = run(&world, &instance, &[PeriodType::Monthly], "2026-03-01").await;
    assert_eq!(out.periods[0].databases, 2);
    let rows = stored(&world, &instance, PeriodType::Monthly).await;
    let feb = row(&rows, Some("app"), "2026-02-01");
    // (130 + 140) / 2 = 135; against January's 115: +20, 20 / 115 = 17.39 %.
    check(feb, (135, 140, 130, 2), ("2026-02-01", "2026-02-02"));
    check_change(feb, Some(20), Some(17.39), Trend::Growing);
    // `logs` has no January: the change is unknown, not 0 and stable.
    let logs = row(&rows, Some("logs"), "2026-02-01");
    check(logs, (50, 50, 50, 1), ("2026-02-10", "2026-02-10"));
    check_change(logs, None, None, Trend::Unknown);
    assert_eq!(
        logs.figures.growth_rate_mb_per_day, None,
        "one day has no rate"
    );
    // The instance: its totals were 130, 140 and 50 (Feb 10, `logs` only):
    // 320 / 3 = 106.67 → 107. January's totals 110 and 120 → 115.
    // 106.667 − 115 = −8.33 → −8 MiB; −8.333 / 115 = −7.246 % → −7.25 %.
    let own = row(&rows, None, "2026-02-01");
    check(own, (107, 140, 50, 3), ("2026-02-01", "2026-02-10"));
    check_change(own, Some(-8), Some(-7.25), Trend::Shrinking);
    world.teardown().await;
}

/// The quarter boundary (March 31 → April 1), the year, an ISO week that
/// spans two years, and days either side of a month's end.
async fn quarterly_yearly_weekly_and_daily_aggregates(backend: Backend) {
    let world = World::on(backend).await;
    let instance = seeded(&world, "agg-periods").await;
    let all = [
        PeriodType::Daily,
        PeriodType::Weekly,
        PeriodType::Quarterly,
        PeriodType::Yearly,
    ];
    // From 2026-04-02: yesterday April 1, the week of March 23–29, Q1
    // 2026, and the year 2025.
    run(&world, &instance, &all, "2026-04-02").await;

    let q1 = stored(&world, &instance, PeriodType::Quarterly).await;
    let app = row(&q1, Some("app"), "2026-01-01");
    assert_eq!(app.period_end, d("2026-03-31"));
    // 110 + 120 + 130 + 140 + 150 = 650 over 5 days = 130.
    check(app, (130, 150, 110, 5), ("2026-01-01", "2026-03-31"));
    // (150 − 110) / 89 days (Jan 1 → Mar 31) = 0.449 → 0.45.
    assert_eq!(app.figures.growth_rate_mb_per_day, Some(0.45));
    // Q4 2025: 90, 100 → 95. +35; 35 / 95 = 36.84 %.
    check_change(app, Some(35), Some(36.84), Trend::Growing);

    let day = stored(&world, &instance, PeriodType::Daily).await;
    let april_first = row(&day, Some("app"), "2026-04-01");
    // 160 against March 31's 150, across the quarter: +10, 6.67 %.
    check(
        april_first,
        (160, 160, 160, 1),
        ("2026-04-01", "2026-04-01"),
    );
    check_change(april_first, Some(10), Some(6.67), Trend::Growing);

    // The week of 2026-03-23 has no data: nothing is written for it.
    let weeks = stored(&world, &instance, PeriodType::Weekly).await;
    assert!(weeks.is_empty(), "{weeks:#?}");
    // The ISO week of 2026-01-01 runs from Monday 2025-12-29 to Sunday
    // 2026-01-04: 90, 100 and 110 → 100; the week before has no data.
    run(&world, &instance, &[PeriodType::Weekly], "2026-01-05").await;
    let weeks = stored(&world, &instance, PeriodType::Weekly).await;
    let turn = row(&weeks, Some("app"), "2025-12-29");
    assert_eq!(turn.period_end, d("2026-01-04"));
    check(turn, (100, 110, 90, 3), ("2025-12-30", "2026-01-01"));
    check_change(turn, None, None, Trend::Unknown);

    // The year 2025 (counted from 2026-04-02): 90 and 100 → 95; 2024 has
    // no data.
    let years = stored(&world, &instance, PeriodType::Yearly).await;
    let y2025 = row(&years, Some("app"), "2025-01-01");
    assert_eq!(y2025.period_end, d("2025-12-31"));
    check(y2025, (95, 100, 90, 2), ("2025-12-30", "2025-12-31"));
    check_change(y2025, None, None, Trend::Unknown);

    // The daily period across a month's end: February 1 against January 31
    // (130 against 120: +10, 8.33 %).
    run(&world, &instance, &[PeriodType::Daily], "2026-02-02").await;
    let day = stored(&world, &instance, PeriodType::Daily).await;
    check_change(
        row(&day, Some("app"), "2026-02-01"),
        Some(10),
        Some(8.33),
        Trend::Growing,
    );
    world.teardown().await;
}

/// March 2 against March 1, from 1000 MiB: +5.10 % and −5.10 % move the
/// trend; +5.00 % and −5.00 % exactly are stable.
async fn the_trend_turns_strictly_beyond_five_percent(backend: Backend) {
    let world = World::on(backend).await;
    let instance = world.add_postgres("agg-edges").await;
    let before = [
        ("grow", 1000),
        ("up5", 1000),
        ("down5", 1000),
        ("shrink", 1000),
    ];
    seed(&world, &instance, "2026-03-01", &before).await;
    let after = [
        ("grow", 1051),
        ("up5", 1050),
        ("down5", 950),
        ("shrink", 949),
    ];
    seed(&world, &instance, "2026-03-02", &after).await;
    run(&world, &instance, &[PeriodType::Daily], "2026-03-03").await;
    let rows = stored(&world, &instance, PeriodType::Daily).await;
    let at = |db| row(&rows, Some(db), "2026-03-02");
    check_change(at("grow"), Some(51), Some(5.1), Trend::Growing);
    check_change(at("up5"), Some(50), Some(5.0), Trend::Stable);
    check_change(at("down5"), Some(-50), Some(-5.0), Trend::Stable);
    check_change(at("shrink"), Some(-51), Some(-5.1), Trend::Shrinking);
    // The instance: 4000 → 4000, no change.
    check_change(
        row(&rows, None, "2026-03-02"),
        Some(0),
        Some(0.0),
        Trend::Stable,
    );
    world.teardown().await;
}

/// The same run twice writes the same rows, once; a day filed late and a
/// re-run correct them.
async fn a_rerun_replaces_the_rows_and_a_late_day_corrects_them(backend: Backend) {
    let world = World::on(backend).await;
    let instance = seeded(&world, "agg-rerun").await;
    run(&world, &instance, &[PeriodType::Monthly], "2026-02-15").await;
    let first = stored(&world, &instance, PeriodType::Monthly).await;
    run(&world, &instance, &[PeriodType::Monthly], "2026-02-15").await;
    let again = stored(&world, &instance, PeriodType::Monthly).await;
    assert_eq!(
        again.len(),
        2,
        "app and the instance, once each: {again:#?}"
    );
    let figures = |rows: &[StoredAggregate]| -> Vec<_> {
        rows.iter()
            .map(|r| (r.database.clone(), r.figures.clone()))
            .collect()
    };
    assert_eq!(figures(&first), figures(&again));

    // January 15 arrives late: 110, 150, 120 → 380 / 3 = 126.67 → 127.
    seed(&world, &instance, "2026-01-15", &[("app", 150)]).await;
    run(&world, &instance, &[PeriodType::Monthly], "2026-02-15").await;
    let corrected = stored(&world, &instance, PeriodType::Monthly).await;
    assert_eq!(corrected.len(), 2);
    let jan = row(&corrected, Some("app"), "2026-01-01");
    check(jan, (127, 150, 110, 3), ("2026-01-01", "2026-01-31"));
    // 126.667 − 95 = 31.67 → 32 MiB; 31.667 / 95 = 33.33 %.
    check_change(jan, Some(32), Some(33.33), Trend::Growing);
    world.teardown().await;
}

/// 2026-03-01 02:00 UTC is March 1 in UTC and still February 28 in New
/// York: "yesterday" is February 28 in one and February 27 in the other.
async fn today_is_the_day_in_the_configured_time_zone(backend: Backend) {
    let world = World::on(backend).await;
    let instance = world.add_postgres("agg-zones").await;
    seed(&world, &instance, "2026-02-27", &[("app", 100)]).await;
    seed(&world, &instance, "2026-02-28", &[("app", 200)]).await;
    let instant: DateTime<Utc> = "2026-03-01T02:00:00Z".parse().unwrap();
    let daily = || Params {
        periods: Some(vec![PeriodType::Daily]),
        ..Params::default()
    };
    let utc = Clock::at(instant, chrono_tz::UTC);
    let out = run_at(&world, &instance, daily(), utc).await;
    assert_eq!(out.periods[0].start, d("2026-02-28"));
    let new_york = Clock::at(instant, chrono_tz::America::New_York);
    let out = run_at(&world, &instance, daily(), new_york).await;
    assert_eq!(out.periods[0].start, d("2026-02-27"));
    let rows = stored(&world, &instance, PeriodType::Daily).await;
    assert_eq!(
        row(&rows, Some("app"), "2026-02-28").figures.avg_size_mb,
        200
    );
    assert_eq!(
        row(&rows, Some("app"), "2026-02-27").figures.avg_size_mb,
        100
    );
    world.teardown().await;
}

/// `current: true` takes the period that contains the day, still partial:
/// counted from 2026-02-15, February so far (the 1st, 2nd and 10th). An
/// empty `periods` is a configuration error, not a run that does nothing.
async fn the_current_period_is_aggregated_when_asked_and_no_period_is_refused(backend: Backend) {
    let world = World::on(backend).await;
    let instance = seeded(&world, "agg-current").await;
    let clock = Clock::system(world.settings.timezone);
    let current = Params {
        periods: Some(vec![PeriodType::Monthly]),
        current: true,
        date: Some(d("2026-02-15")),
    };
    let out = run_at(&world, &instance, current, clock).await;
    let p = &out.periods[0];
    assert_eq!(
        (p.start, p.end, p.databases),
        (d("2026-02-01"), d("2026-02-28"), 2)
    );
    let rows = stored(&world, &instance, PeriodType::Monthly).await;
    check(
        row(&rows, Some("app"), "2026-02-01"),
        (135, 140, 130, 2),
        ("2026-02-01", "2026-02-02"),
    );

    let none = Params {
        periods: Some(Vec::new()),
        ..Params::default()
    };
    let (settings, filters) = (&world.settings, &world.filters);
    let ctx = Context::new(&instance, &world.store, filters, &settings.job, clock);
    match Aggregate::run(&ctx, &none).await {
        Err(Failure::Instance(e)) => assert_eq!(e.class, ErrorClass::Config, "{e:?}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
    world.teardown().await;
}

/// A batch of the kind through the fleet, with its parameters: it ends
/// `success`, its summary counts the rows written, and the instance that
/// is down (nothing listens on its port) is aggregated too.
async fn a_batch_aggregates_an_instance_that_is_down(backend: Backend) {
    let world = World::on(backend).await;
    let down = world
        .add_instance(
            "agg-down",
            DbType::Postgresql,
            common::closed_port(),
            "nobody",
            PasswordRef::None,
        )
        .await;
    seed(&world, &down, "2026-01-10", &[("app", 10), ("logs", 20)]).await;
    let fleet = Fleet::start(&world, 1);
    let params = JobParams::Aggregate(Params {
        periods: Some(vec![PeriodType::Monthly]),
        current: false,
        date: Some(d("2026-02-15")),
    });
    let request = BatchRequest {
        params: &params,
        selection: Selection::AllActive,
        deadline: world.settings.job.deadline,
        requested_by: None,
        interactive: false,
    };
    let broker = world.broker.as_ref();
    let batch = dispatcher::start_batch(&world.store, broker, &request)
        .await
        .unwrap();
    let poll = Duration::from_millis(100);
    let ended = common::within("the batch", dispatcher::wait(&world.store, batch.id, poll))
        .await
        .unwrap();
    fleet.stop().await;
    assert_eq!(ended.status, BatchStatus::Success, "{ended:?}");
    assert_eq!(ended.kind, "aggregate");
    assert_eq!(
        ended.summary.get("database_aggregates"),
        2,
        "{:?}",
        ended.summary
    );
    assert_eq!(
        ended.summary.get("instance_aggregates"),
        1,
        "{:?}",
        ended.summary
    );
    let rows = stored(&world, &down, PeriodType::Monthly).await;
    check(
        row(&rows, Some("logs"), "2026-01-01"),
        (20, 20, 20, 1),
        ("2026-01-10", "2026-01-10"),
    );
    check(
        row(&rows, None, "2026-01-01"),
        (30, 30, 30, 1),
        ("2026-01-10", "2026-01-10"),
    );
    world.teardown().await;
}
