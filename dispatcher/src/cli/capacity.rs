//! `dbfleet capacity …`: reading what the capacity jobs filed.

use chrono::NaiveDate;
use clap::{Args, Subcommand};
use dbfleet::aggregate::PeriodType;
use dbfleet::domain::{DbType, InstanceName};

#[derive(Subcommand)]
pub enum CapacityCommand {
    /// The largest tables, as the latest `table_sizes` snapshot on or
    /// before a day has them (`dbfleet run --kind table_sizes` or `batch
    /// start --kind table_sizes` files one): with NAME, each database of
    /// that instance, the rest summed on one line; without, the fleet's
    /// largest (of `--engine`, of `--instance`).
    Tables(TablesArgs),
    /// Days until full of each active instance (and, with `--databases`,
    /// each database), soonest first: a robust line through the last
    /// `capacity.forecast_days` of daily sizes, against the ceilings of
    /// `capacity.ceilings`. Unknown, with the reason, when the history or
    /// the ceiling is missing.
    Forecast(ForecastArgs),
    /// The largest databases of the fleet, by their latest size.
    Top(TopArgs),
    /// The fastest-growing databases over the last days: each one's first
    /// size in the window against its last, largest change first.
    Growth(GrowthArgs),
    /// The daily sizes of one instance (its totals) or one of its databases.
    History {
        /// The instance.
        name: InstanceName,
        /// One database's sizes instead of the instance's totals.
        #[arg(long)]
        database: Option<String>,
        /// The first day (YYYY-MM-DD); 30 days before `--date` by default.
        #[arg(long, value_name = "YYYY-MM-DD")]
        since: Option<NaiveDate>,
        /// The last day (YYYY-MM-DD); today by default.
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<NaiveDate>,
        #[arg(long)]
        json: bool,
    },
    /// Period aggregates of an instance, as `aggregate` jobs filed them
    /// (`dbfleet run --kind aggregate`): the instance's own and its
    /// databases', by period type and start.
    Aggregates {
        /// The instance.
        name: InstanceName,
        /// Only this database's aggregates.
        #[arg(long)]
        database: Option<String>,
        /// Only this period type: daily, weekly, monthly, quarterly or yearly.
        #[arg(long, value_parser = parse_period)]
        period: Option<PeriodType>,
        /// Periods starting on or after this day (YYYY-MM-DD).
        #[arg(long, value_name = "YYYY-MM-DD")]
        since: Option<NaiveDate>,
        #[arg(long)]
        json: bool,
    },
}

/// `--engine` and `--instance`: the part of the fleet a read covers.
#[derive(Args)]
pub struct Among {
    /// Only instances of this engine: mysql (or mariadb), postgresql (or
    /// postgres, pg).
    #[arg(long)]
    pub engine: Option<DbType>,
    /// Only this instance.
    #[arg(long)]
    pub instance: Option<InstanceName>,
}

#[derive(Args)]
pub struct TablesArgs {
    /// The instance whose databases to show; the whole fleet without it.
    #[arg(conflicts_with_all = ["engine", "instance"])]
    pub name: Option<InstanceName>,
    /// Only this database (with NAME).
    #[arg(long, requires = "name")]
    pub database: Option<String>,
    #[command(flatten)]
    pub among: Among,
    /// The day to read (YYYY-MM-DD); today in `timezone` by default.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<NaiveDate>,
    /// Only snapshots taken on or after this day (YYYY-MM-DD; without NAME).
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with = "name")]
    pub since: Option<NaiveDate>,
    /// Tables shown at most: per database with NAME (the rest are summed
    /// on one line), in all without.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ForecastArgs {
    /// Only this instance.
    #[arg(long)]
    pub instance: Option<InstanceName>,
    /// Only instances of this engine: mysql (or mariadb), postgresql (or
    /// postgres, pg).
    #[arg(long)]
    pub engine: Option<DbType>,
    /// Each database too (a database has only the ceilings that name it).
    #[arg(long)]
    pub databases: bool,
    /// The last day of the history (YYYY-MM-DD); today by default.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<NaiveDate>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct TopArgs {
    #[command(flatten)]
    pub among: Among,
    /// Only databases measured on or after this day (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub since: Option<NaiveDate>,
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct GrowthArgs {
    #[command(flatten)]
    pub among: Among,
    /// The window's length, ending on `--date`.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// The window's last day (YYYY-MM-DD); today by default.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<NaiveDate>,
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
    #[arg(long)]
    pub json: bool,
}

fn parse_period(value: &str) -> Result<PeriodType, String> {
    PeriodType::parse(value)
        .ok_or_else(|| "expected daily, weekly, monthly, quarterly or yearly".to_string())
}
