//! MySQL and MariaDB sessions: inventory from `SHOW DATABASES`, sizes from
//! the InnoDB tablespace views.
//!
//! Sizes come from tablespace files rather than `information_schema.TABLES`
//! because summing `DATA_LENGTH` opens every table (slow, and it blocks on
//! metadata locks), while the tablespace views read what the storage engine
//! already knows. Tablespace names are on-disk names, so they carry MySQL's
//! filename encoding and must be decoded back to database names before they
//! can be matched against the inventory.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Utc;
use secrecy::ExposeSecret;
use sqlx::mysql::{MySqlConnectOptions, MySqlRow};
use sqlx::{ConnectOptions as _, Connection as _, Row as _};

use super::{ConnectOptions, DatabaseItem, DatabaseSize, Error};

/// Databases MySQL and MariaDB create for themselves.
const SYSTEM_DATABASES: [&str; 4] = ["information_schema", "performance_schema", "mysql", "sys"];

const MIB: i64 = 1024 * 1024;

/// Server error numbers that decide the error class.
mod code {
    pub const DBACCESS_DENIED: u16 = 1044;
    pub const ACCESS_DENIED: u16 = 1045;
    pub const BAD_DB: u16 = 1049;
    pub const CON_COUNT: u16 = 1040;
    pub const LOCK_WAIT_TIMEOUT: u16 = 1205;
    pub const ACCESS_DENIED_NO_PASSWORD: u16 = 1698;
    pub const MARIADB_STATEMENT_TIMEOUT: u16 = 1969;
    pub const MYSQL_QUERY_TIMEOUT: u16 = 3024;
}

/// Which server family answered, because the tablespace view was renamed
/// between releases and the statement timeout variable differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    MariaDb,
    /// MySQL 8.0 and later.
    Mysql8,
    /// MySQL 5.7 and older.
    MysqlLegacy,
}

impl Flavor {
    fn from_version(version: &str) -> Self {
        if version.to_ascii_lowercase().contains("mariadb") {
            return Flavor::MariaDb;
        }
        let major = version
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|m| m.parse::<u32>().ok())
            .unwrap_or(0);
        if major >= 8 {
            Flavor::Mysql8
        } else {
            Flavor::MysqlLegacy
        }
    }

    /// Views to try, most likely first: MySQL 8 renamed
    /// `INNODB_SYS_TABLESPACES` to `INNODB_TABLESPACES`, MariaDB kept the old
    /// name; trying both survives forks that picked either.
    fn tablespace_views(self) -> [&'static str; 2] {
        match self {
            Flavor::Mysql8 => ["INNODB_TABLESPACES", "INNODB_SYS_TABLESPACES"],
            Flavor::MariaDb | Flavor::MysqlLegacy => {
                ["INNODB_SYS_TABLESPACES", "INNODB_TABLESPACES"]
            }
        }
    }
}

/// One read-only session on a MySQL or MariaDB server.
pub struct MysqlConnection {
    conn: sqlx::MySqlConnection,
    flavor: Flavor,
}

impl MysqlConnection {
    pub async fn connect(o: &ConnectOptions) -> Result<Self, Error> {
        let mut options = MySqlConnectOptions::new()
            .host(&o.host)
            .port(o.port)
            .username(&o.username);
        let password = o.password.expose_secret();
        if !password.is_empty() {
            options = options.password(password);
        }
        // Without an explicit database the session needs no privilege on any
        // particular one: an account limited to its own schemas cannot enter
        // `mysql`, yet may still list and size what it can see.
        if let Some(database) = o.database.as_deref() {
            options = options.database(database);
        }

        let mut conn = match tokio::time::timeout(o.connect_timeout, options.connect()).await {
            Ok(result) => result.map_err(map_error)?,
            Err(_) => {
                return Err(Error::Timeout(format!(
                    "connecting to {}:{} took longer than {:?}",
                    o.host, o.port, o.connect_timeout
                )))
            }
        };

        match setup_session(&mut conn, o).await {
            Ok(flavor) => Ok(Self { conn, flavor }),
            Err(e) => {
                let _ = conn.close().await;
                Err(e)
            }
        }
    }

    pub async fn fetch_inventory(&mut self) -> Result<Vec<DatabaseItem>, Error> {
        let names = show_databases(&mut self.conn).await?;
        Ok(names
            .into_iter()
            .map(|name| DatabaseItem {
                is_system: is_system_database(&name),
                name,
            })
            .collect())
    }

    pub async fn fetch_capacity(&mut self, targets: &[String]) -> Result<Vec<DatabaseSize>, Error> {
        let collected_at = Utc::now();
        let mut bytes_by_db = BTreeMap::new();
        let mut last_error = None;
        for view in self.flavor.tablespace_views() {
            match read_tablespaces(&mut self.conn, view).await {
                Ok(rows) => {
                    bytes_by_db = aggregate_tablespaces(rows);
                    if !bytes_by_db.is_empty() {
                        break;
                    }
                    tracing::debug!(view, "tablespace view returned no rows");
                }
                Err(e) => {
                    tracing::warn!(view, error = %e, "cannot read tablespace view");
                    last_error = Some(e);
                }
            }
        }
        if bytes_by_db.is_empty() {
            return match last_error {
                Some(e) => Err(e),
                None => Ok(Vec::new()),
            };
        }

        // A database whose tables are all outside InnoDB (MyISAM, or no
        // tables at all) has no tablespace; it still exists and weighs
        // nothing as far as InnoDB files go, so it is reported as 0 MiB
        // rather than silently missing.
        match show_databases(&mut self.conn).await {
            Ok(names) => {
                for name in names {
                    bytes_by_db.entry(name).or_insert(0);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list databases for zero-size placeholders");
            }
        }

        let mut seen = BTreeSet::new();
        let mut sizes = Vec::new();
        let mut missing = Vec::new();
        for target in targets {
            if !seen.insert(target.as_str()) {
                continue;
            }
            match bytes_by_db.get(target) {
                Some(&bytes) => {
                    let size_mb = bytes_to_mib(bytes);
                    sizes.push(DatabaseSize {
                        name: target.clone(),
                        size_mb,
                        data_size_mb: Some(size_mb),
                        log_size_mb: None,
                        collected_at,
                    });
                }
                None => missing.push(target.as_str()),
            }
        }
        if !missing.is_empty() {
            tracing::warn!(
                ?missing,
                "requested databases were not reported by the server"
            );
        }
        Ok(sizes)
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// Makes the session harmless and bounded, and finds out which server
/// family it talks to.
async fn setup_session(
    conn: &mut sqlx::MySqlConnection,
    o: &ConnectOptions,
) -> Result<Flavor, Error> {
    execute(conn, "SET SESSION TRANSACTION READ ONLY").await?;
    let lock_seconds = o.lock_timeout.as_secs().max(1);
    execute(
        conn,
        &format!("SET SESSION lock_wait_timeout = {lock_seconds}"),
    )
    .await?;

    let row = sqlx::query("SELECT VERSION()")
        .fetch_one(&mut *conn)
        .await
        .map_err(map_error)?;
    let version = text_at(&row, 0).unwrap_or_default();
    let flavor = Flavor::from_version(&version);
    tracing::debug!(%version, ?flavor, "connected to MySQL-family server");

    let statement = match flavor {
        Flavor::MariaDb => format!(
            "SET SESSION max_statement_time = {}",
            mariadb_statement_seconds(o.statement_timeout)
        ),
        Flavor::Mysql8 | Flavor::MysqlLegacy => format!(
            "SET SESSION max_execution_time = {}",
            mysql_statement_millis(o.statement_timeout)
        ),
    };
    execute(conn, &statement).await?;
    Ok(flavor)
}

/// Runs a statement built only from constants and numbers; the text protocol
/// is used because some `SET` forms cannot be prepared on older servers.
async fn execute(conn: &mut sqlx::MySqlConnection, sql: &str) -> Result<(), Error> {
    // `raw_sql` would defeat rustc's `Send` inference for callers that
    // spawn this future; an argument-less `&str` also runs as a text query.
    sqlx::Executor::execute(&mut *conn, sql)
        .await
        .map(|_| ())
        .map_err(map_error)
}

/// `max_statement_time` is in seconds with a fraction; `0` disables it.
fn mariadb_statement_seconds(timeout: Duration) -> String {
    format!("{:.3}", timeout.as_secs_f64())
}

/// `max_execution_time` is in whole milliseconds; a non-zero timeout below
/// one millisecond must not become `0`, which disables the limit.
fn mysql_statement_millis(timeout: Duration) -> u128 {
    let ms = timeout.as_millis();
    if ms == 0 && !timeout.is_zero() {
        1
    } else {
        ms
    }
}

async fn show_databases(conn: &mut sqlx::MySqlConnection) -> Result<Vec<String>, Error> {
    let rows = sqlx::query("SHOW DATABASES")
        .fetch_all(&mut *conn)
        .await
        .map_err(map_error)?;
    Ok(rows
        .iter()
        .filter_map(|row| text_at(row, 0))
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .collect())
}

async fn read_tablespaces(
    conn: &mut sqlx::MySqlConnection,
    view: &'static str,
) -> Result<Vec<(String, Option<i64>)>, Error> {
    let sql = format!("SELECT NAME, FILE_SIZE FROM information_schema.{view}");
    let rows = sqlx::query(&sql)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_error)?;
    Ok(rows
        .iter()
        .filter_map(|row| Some((text_at(row, 0)?, size_at(row, 1))))
        .collect())
}

/// Reads a text column whatever its declared type: MariaDB reports some
/// `SHOW` and `information_schema` columns as binary strings, which the
/// typed `String` decoder refuses.
fn text_at(row: &MySqlRow, index: usize) -> Option<String> {
    match row.try_get::<Option<String>, _>(index) {
        Ok(value) => value,
        Err(_) => row
            .try_get_unchecked::<Option<Vec<u8>>, _>(index)
            .ok()
            .flatten()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// Reads a byte count whatever numeric type the server chose (signed,
/// unsigned, decimal or text); `None` when it is NULL or not a number.
fn size_at(row: &MySqlRow, index: usize) -> Option<i64> {
    if let Ok(value) = row.try_get::<Option<i64>, _>(index) {
        return value;
    }
    if let Ok(value) = row.try_get::<Option<u64>, _>(index) {
        return value.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    }
    if let Ok(value) = row.try_get::<Option<f64>, _>(index) {
        return value.and_then(float_to_i64);
    }
    row.try_get_unchecked::<Option<Vec<u8>>, _>(index)
        .ok()
        .flatten()
        .and_then(|bytes| parse_size_text(&String::from_utf8_lossy(&bytes)))
}

fn float_to_i64(value: f64) -> Option<i64> {
    // `as` saturates at the i64 bounds, which is the clamping wanted here.
    value.is_finite().then_some(value.trunc() as i64)
}

fn parse_size_text(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(v) = text.parse::<i64>() {
        return Some(v);
    }
    if let Ok(v) = text.parse::<u64>() {
        return Some(i64::try_from(v).unwrap_or(i64::MAX));
    }
    text.parse::<f64>().ok().and_then(float_to_i64)
}

fn is_system_database(name: &str) -> bool {
    SYSTEM_DATABASES.contains(&name)
}

/// Sums tablespace file sizes per database. The database is the part of the
/// tablespace name before the first `/` (`db/table`, `db/table#P#p0`); names
/// without a `/` (system, undo, general tablespaces) stand for themselves
/// and never match a user database. Rows without a usable size are skipped.
fn aggregate_tablespaces(
    rows: impl IntoIterator<Item = (String, Option<i64>)>,
) -> BTreeMap<String, i64> {
    let mut bytes_by_db = BTreeMap::new();
    for (name, size) in rows {
        let Some(size) = size else { continue };
        let schema = name.split('/').next().unwrap_or_default().trim();
        if schema.is_empty() {
            continue;
        }
        let total: &mut i64 = bytes_by_db.entry(decode_filename(schema)).or_insert(0);
        *total = total.saturating_add(size.max(0));
    }
    bytes_by_db
}

/// Whole MiB, rounded up so that a database holding anything at all never
/// shows as empty.
fn bytes_to_mib(bytes: i64) -> i64 {
    if bytes <= 0 {
        return 0;
    }
    let whole = bytes / MIB + i64::from(bytes % MIB != 0);
    whole.max(1)
}

/// Turns an on-disk name back into the identifier it encodes.
///
/// MySQL writes identifiers into file names with the `filename` character
/// set: ASCII letters, digits and `_` as-is; many letters of Latin, Greek,
/// Cyrillic and a few other blocks as `@` plus a two-character code
/// (`é` → `@0p`); everything else as `@` plus four hex digits of the code
/// point (`-` → `@002d`, space → `@0020`). An `@` that starts neither form,
/// or a hex form that is not a valid code point, is kept as written so that
/// an odd name stays visible instead of being mangled.
pub(crate) fn decode_filename(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(at) = rest.find('@') {
        out.push_str(rest.get(..at).unwrap_or_default());
        let after = rest.get(at + 1..).unwrap_or_default();
        match decode_escape(after) {
            Some((c, used)) => {
                out.push(c);
                rest = after.get(used..).unwrap_or_default();
            }
            None => {
                out.push('@');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes the escape that follows an `@`; returns the character and how
/// many bytes after the `@` it used. The two-character table is consulted
/// first, as the server does; no table code is made of two hex digits, so
/// the order only matters for malformed input.
fn decode_escape(after: &str) -> Option<(char, usize)> {
    let bytes = after.as_bytes();
    if let Some(pair) = bytes.get(..2) {
        if let Ok(i) = FILENAME_CODES.binary_search_by(|(code, _)| code.as_slice().cmp(pair)) {
            return FILENAME_CODES.get(i).map(|&(_, c)| (c, 2));
        }
    }
    let hex = bytes.get(..4)?;
    if !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let value = u32::from_str_radix(after.get(..4)?, 16).ok()?;
    char::from_u32(value).map(|c| (c, 4))
}

/// Maps a driver error to the job error class. The driver's messages never
/// contain the password, and the connect options are never formatted.
fn map_error(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(db) => {
            let number = db
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .map(|m| m.number());
            match number {
                Some(
                    code::ACCESS_DENIED | code::DBACCESS_DENIED | code::ACCESS_DENIED_NO_PASSWORD,
                ) => Error::Auth(e.to_string()),
                Some(code::BAD_DB | code::CON_COUNT) => Error::Connect(e.to_string()),
                Some(
                    code::MARIADB_STATEMENT_TIMEOUT
                    | code::MYSQL_QUERY_TIMEOUT
                    | code::LOCK_WAIT_TIMEOUT,
                ) => Error::Timeout(e.to_string()),
                _ => Error::Query(e.to_string()),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Configuration(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Error::Connect(e.to_string()),
        _ => Error::Query(e.to_string()),
    }
}

/// The two-character codes of MySQL's `filename` character set, sorted by
/// code. Obtained from a MariaDB 10.11 server by decoding every `@XY` with
/// `CONVERT(_filename X'40..' USING utf8mb4)`; MySQL shares the table.
#[rustfmt::skip]
static FILENAME_CODES: &[([u8; 2], char)] = &[
    (*b"0G", '\u{00c0}'), (*b"0H", '\u{00c1}'), (*b"0I", '\u{00c2}'), (*b"0J", '\u{00c3}'), (*b"0K", '\u{00c4}'),
    (*b"0L", '\u{00c5}'), (*b"0M", '\u{00c6}'), (*b"0N", '\u{00c7}'), (*b"0O", '\u{00c8}'), (*b"0P", '\u{00c9}'),
    (*b"0Q", '\u{00ca}'), (*b"0R", '\u{00cb}'), (*b"0S", '\u{00cc}'), (*b"0T", '\u{00cd}'), (*b"0U", '\u{00ce}'),
    (*b"0V", '\u{00cf}'), (*b"0W", '\u{00d0}'), (*b"0X", '\u{00d1}'), (*b"0Y", '\u{00d2}'), (*b"0Z", '\u{00d3}'),
    (*b"0g", '\u{00e0}'), (*b"0h", '\u{00e1}'), (*b"0i", '\u{00e2}'), (*b"0j", '\u{00e3}'), (*b"0k", '\u{00e4}'),
    (*b"0l", '\u{00e5}'), (*b"0m", '\u{00e6}'), (*b"0n", '\u{00e7}'), (*b"0o", '\u{00e8}'), (*b"0p", '\u{00e9}'),
    (*b"0q", '\u{00ea}'), (*b"0r", '\u{00eb}'), (*b"0s", '\u{00ec}'), (*b"0t", '\u{00ed}'), (*b"0u", '\u{00ee}'),
    (*b"0v", '\u{00ef}'), (*b"0w", '\u{00f0}'), (*b"0x", '\u{00f1}'), (*b"0y", '\u{00f2}'), (*b"0z", '\u{00f3}'),
    (*b"1G", '\u{00d4}'), (*b"1H", '\u{00d5}'), (*b"1I", '\u{00d6}'), (*b"1K", '\u{00d8}'), (*b"1L", '\u{00d9}'),
    (*b"1M", '\u{00da}'), (*b"1N", '\u{00db}'), (*b"1O", '\u{00dc}'), (*b"1P", '\u{00dd}'), (*b"1Q", '\u{00de}'),
    (*b"1R", '\u{0178}'), (*b"1S", '\u{0100}'), (*b"1T", '\u{0102}'), (*b"1U", '\u{0104}'), (*b"1V", '\u{0106}'),
    (*b"1W", '\u{0108}'), (*b"1X", '\u{010a}'), (*b"1Y", '\u{010c}'), (*b"1Z", '\u{010e}'), (*b"1g", '\u{00f4}'),
    (*b"1h", '\u{00f5}'), (*b"1i", '\u{00f6}'), (*b"1j", '\u{00df}'), (*b"1k", '\u{00f8}'), (*b"1l", '\u{00f9}'),
    (*b"1m", '\u{00fa}'), (*b"1n", '\u{00fb}'), (*b"1o", '\u{00fc}'), (*b"1p", '\u{00fd}'), (*b"1q", '\u{00fe}'),
    (*b"1r", '\u{00ff}'), (*b"1s", '\u{0101}'), (*b"1t", '\u{0103}'), (*b"1u", '\u{0105}'), (*b"1v", '\u{0107}'),
    (*b"1w", '\u{0109}'), (*b"1x", '\u{010b}'), (*b"1y", '\u{010d}'), (*b"1z", '\u{010f}'), (*b"2G", '\u{0110}'),
    (*b"2H", '\u{0112}'), (*b"2I", '\u{0114}'), (*b"2J", '\u{0116}'), (*b"2K", '\u{0118}'), (*b"2L", '\u{011a}'),
    (*b"2M", '\u{011c}'), (*b"2N", '\u{011e}'), (*b"2O", '\u{0120}'), (*b"2P", '\u{0122}'), (*b"2Q", '\u{0124}'),
    (*b"2R", '\u{0126}'), (*b"2S", '\u{0128}'), (*b"2T", '\u{012a}'), (*b"2U", '\u{012c}'), (*b"2V", '\u{012e}'),
    (*b"2X", '\u{0132}'), (*b"2Y", '\u{0134}'), (*b"2Z", '\u{0136}'), (*b"2g", '\u{0111}'), (*b"2h", '\u{0113}'),
    (*b"2i", '\u{0115}'), (*b"2j", '\u{0117}'), (*b"2k", '\u{0119}'), (*b"2l", '\u{011b}'), (*b"2m", '\u{011d}'),
    (*b"2n", '\u{011f}'), (*b"2o", '\u{0121}'), (*b"2p", '\u{0123}'), (*b"2q", '\u{0125}'), (*b"2r", '\u{0127}'),
    (*b"2s", '\u{0129}'), (*b"2t", '\u{012b}'), (*b"2u", '\u{012d}'), (*b"2v", '\u{012f}'), (*b"2w", '\u{0131}'),
    (*b"2x", '\u{0133}'), (*b"2y", '\u{0135}'), (*b"2z", '\u{0137}'), (*b"3H", '\u{0139}'), (*b"3I", '\u{013b}'),
    (*b"3J", '\u{013d}'), (*b"3K", '\u{013f}'), (*b"3L", '\u{0141}'), (*b"3M", '\u{0143}'), (*b"3N", '\u{0145}'),
    (*b"3O", '\u{0147}'), (*b"3Q", '\u{014a}'), (*b"3R", '\u{014c}'), (*b"3S", '\u{014e}'), (*b"3T", '\u{0150}'),
    (*b"3U", '\u{0152}'), (*b"3V", '\u{0154}'), (*b"3W", '\u{0156}'), (*b"3X", '\u{0158}'), (*b"3Y", '\u{015a}'),
    (*b"3Z", '\u{015c}'), (*b"3g", '\u{0138}'), (*b"3h", '\u{013a}'), (*b"3i", '\u{013c}'), (*b"3j", '\u{013e}'),
    (*b"3k", '\u{0140}'), (*b"3l", '\u{0142}'), (*b"3m", '\u{0144}'), (*b"3n", '\u{0146}'), (*b"3o", '\u{0148}'),
    (*b"3p", '\u{0149}'), (*b"3q", '\u{014b}'), (*b"3r", '\u{014d}'), (*b"3s", '\u{014f}'), (*b"3t", '\u{0151}'),
    (*b"3u", '\u{0153}'), (*b"3v", '\u{0155}'), (*b"3w", '\u{0157}'), (*b"3x", '\u{0159}'), (*b"3y", '\u{015b}'),
    (*b"3z", '\u{015d}'), (*b"4G", '\u{015e}'), (*b"4H", '\u{0160}'), (*b"4I", '\u{0162}'), (*b"4J", '\u{0164}'),
    (*b"4K", '\u{0166}'), (*b"4L", '\u{0168}'), (*b"4M", '\u{016a}'), (*b"4N", '\u{016c}'), (*b"4O", '\u{016e}'),
    (*b"4P", '\u{0170}'), (*b"4Q", '\u{0172}'), (*b"4R", '\u{0174}'), (*b"4S", '\u{0176}'), (*b"4T", '\u{0179}'),
    (*b"4U", '\u{017b}'), (*b"4V", '\u{017d}'), (*b"4g", '\u{015f}'), (*b"4h", '\u{0161}'), (*b"4i", '\u{0163}'),
    (*b"4j", '\u{0165}'), (*b"4k", '\u{0167}'), (*b"4l", '\u{0169}'), (*b"4m", '\u{016b}'), (*b"4n", '\u{016d}'),
    (*b"4o", '\u{016f}'), (*b"4p", '\u{0171}'), (*b"4q", '\u{0173}'), (*b"4r", '\u{0175}'), (*b"4s", '\u{0177}'),
    (*b"4t", '\u{017a}'), (*b"4u", '\u{017c}'), (*b"4v", '\u{017e}'), (*b"4w", '\u{017f}'), (*b"5y", '\u{0390}'),
    (*b"6G", '\u{0386}'), (*b"6H", '\u{0388}'), (*b"6I", '\u{0389}'), (*b"6J", '\u{038a}'), (*b"6L", '\u{0391}'),
    (*b"6N", '\u{0393}'), (*b"6O", '\u{0394}'), (*b"6P", '\u{0395}'), (*b"6Q", '\u{0396}'), (*b"6R", '\u{0397}'),
    (*b"6T", '\u{0399}'), (*b"6V", '\u{039b}'), (*b"6W", '\u{039c}'), (*b"6X", '\u{039d}'), (*b"6Y", '\u{039e}'),
    (*b"6Z", '\u{039f}'), (*b"6g", '\u{03ac}'), (*b"6h", '\u{03ad}'), (*b"6i", '\u{03ae}'), (*b"6j", '\u{03af}'),
    (*b"6k", '\u{03b0}'), (*b"6l", '\u{03b1}'), (*b"6m", '\u{03b2}'), (*b"6n", '\u{03b3}'), (*b"6o", '\u{03b4}'),
    (*b"6p", '\u{03b5}'), (*b"6q", '\u{03b6}'), (*b"6r", '\u{03b7}'), (*b"6s", '\u{03b8}'), (*b"6t", '\u{03b9}'),
    (*b"6u", '\u{03ba}'), (*b"6v", '\u{03bb}'), (*b"6w", '\u{03bc}'), (*b"6x", '\u{03bd}'), (*b"6y", '\u{03be}'),
    (*b"6z", '\u{03bf}'), (*b"7H", '\u{03a1}'), (*b"7K", '\u{03a4}'), (*b"7L", '\u{03a5}'), (*b"7N", '\u{03a7}'),
    (*b"7O", '\u{03a8}'), (*b"7P", '\u{03a9}'), (*b"7Q", '\u{03aa}'), (*b"7R", '\u{03ab}'), (*b"7S", '\u{038c}'),
    (*b"7T", '\u{038e}'), (*b"7U", '\u{038f}'), (*b"7W", '\u{0392}'), (*b"7X", '\u{0398}'), (*b"7Y", '\u{03d2}'),
    (*b"7Z", '\u{03d3}'), (*b"7g", '\u{03c0}'), (*b"7h", '\u{03c1}'), (*b"7i", '\u{03c2}'), (*b"7j", '\u{03c3}'),
    (*b"7k", '\u{03c4}'), (*b"7l", '\u{03c5}'), (*b"7m", '\u{03c6}'), (*b"7n", '\u{03c7}'), (*b"7o", '\u{03c8}'),
    (*b"7p", '\u{03c9}'), (*b"7q", '\u{03ca}'), (*b"7r", '\u{03cb}'), (*b"7s", '\u{03cc}'), (*b"7t", '\u{03cd}'),
    (*b"7u", '\u{03ce}'), (*b"7w", '\u{03d0}'), (*b"7x", '\u{03d1}'), (*b"8G", '\u{03d4}'), (*b"8H", '\u{03a6}'),
    (*b"8I", '\u{03a0}'), (*b"8L", '\u{03da}'), (*b"8M", '\u{03dc}'), (*b"8N", '\u{03de}'), (*b"8O", '\u{03e0}'),
    (*b"8P", '\u{03e2}'), (*b"8Q", '\u{03e4}'), (*b"8R", '\u{03e6}'), (*b"8S", '\u{03e8}'), (*b"8T", '\u{03ea}'),
    (*b"8U", '\u{03ec}'), (*b"8V", '\u{03ee}'), (*b"8W", '\u{039a}'), (*b"8Y", '\u{03a3}'), (*b"8h", '\u{03d5}'),
    (*b"8i", '\u{03d6}'), (*b"8j", '\u{03d7}'), (*b"8k", '\u{03d9}'), (*b"8l", '\u{03db}'), (*b"8m", '\u{03dd}'),
    (*b"8n", '\u{03df}'), (*b"8o", '\u{03e1}'), (*b"8p", '\u{03e3}'), (*b"8q", '\u{03e5}'), (*b"8r", '\u{03e7}'),
    (*b"8s", '\u{03e9}'), (*b"8t", '\u{03eb}'), (*b"8u", '\u{03ed}'), (*b"8v", '\u{03ef}'), (*b"8w", '\u{03f0}'),
    (*b"8x", '\u{03f1}'), (*b"8y", '\u{03f2}'), (*b"8z", '\u{03f3}'), (*b"9L", '\u{03fd}'), (*b"9M", '\u{03fe}'),
    (*b"9N", '\u{03ff}'), (*b"9g", '\u{03f5}'), (*b"9h", '\u{03f6}'), (*b"9i", '\u{03f8}'), (*b"9j", '\u{03fb}'),
    (*b"9k", '\u{03fc}'), (*b"@A", '\u{24b6}'), (*b"@B", '\u{24b7}'), (*b"@C", '\u{24b8}'), (*b"@D", '\u{24b9}'),
    (*b"@E", '\u{24ba}'), (*b"@F", '\u{24bb}'), (*b"@G", '\u{24bc}'), (*b"@H", '\u{24bd}'), (*b"@I", '\u{24be}'),
    (*b"@J", '\u{24bf}'), (*b"@K", '\u{24c0}'), (*b"@L", '\u{24c1}'), (*b"@M", '\u{24c2}'), (*b"@N", '\u{24c3}'),
    (*b"@O", '\u{24c4}'), (*b"@P", '\u{24c5}'), (*b"@Q", '\u{24c6}'), (*b"@R", '\u{24c7}'), (*b"@S", '\u{24c8}'),
    (*b"@T", '\u{24c9}'), (*b"@U", '\u{24ca}'), (*b"@V", '\u{24cb}'), (*b"@W", '\u{24cc}'), (*b"@X", '\u{24cd}'),
    (*b"@Y", '\u{24ce}'), (*b"@Z", '\u{24cf}'), (*b"@a", '\u{24d0}'), (*b"@b", '\u{24d1}'), (*b"@c", '\u{24d2}'),
    (*b"@d", '\u{24d3}'), (*b"@e", '\u{24d4}'), (*b"@f", '\u{24d5}'), (*b"@g", '\u{24d6}'), (*b"@h", '\u{24d7}'),
    (*b"@i", '\u{24d8}'), (*b"@j", '\u{24d9}'), (*b"@k", '\u{24da}'), (*b"@l", '\u{24db}'), (*b"@m", '\u{24dc}'),
    (*b"@n", '\u{24dd}'), (*b"@o", '\u{24de}'), (*b"@p", '\u{24df}'), (*b"@q", '\u{24e0}'), (*b"@r", '\u{24e1}'),
    (*b"@s", '\u{24e2}'), (*b"@t", '\u{24e3}'), (*b"@u", '\u{24e4}'), (*b"@v", '\u{24e5}'), (*b"@w", '\u{24e6}'),
    (*b"@x", '\u{24e7}'), (*b"@y", '\u{24e8}'), (*b"@z", '\u{24e9}'), (*b"A@", '\u{ff21}'), (*b"B@", '\u{ff22}'),
    (*b"C@", '\u{ff23}'), (*b"D@", '\u{ff24}'), (*b"E@", '\u{ff25}'), (*b"F@", '\u{ff26}'), (*b"G0", '\u{0410}'),
    (*b"G1", '\u{0424}'), (*b"G2", '\u{0408}'), (*b"G3", '\u{0478}'), (*b"G4", '\u{04a6}'), (*b"G5", '\u{04cd}'),
    (*b"G6", '\u{04f4}'), (*b"G8", '\u{0544}'), (*b"G9", '\u{2160}'), (*b"G@", '\u{ff27}'), (*b"Gb", '\u{01b3}'),
    (*b"Gc", '\u{01de}'), (*b"Gd", '\u{0208}'), (*b"Ge", '\u{0230}'), (*b"Gl", '\u{1e00}'), (*b"Gm", '\u{1e28}'),
    (*b"Gn", '\u{1e50}'), (*b"Go", '\u{1e78}'), (*b"Gp", '\u{1e60}'), (*b"Gq", '\u{1ebe}'), (*b"Gr", '\u{1ee6}'),
    (*b"Gs", '\u{1f08}'), (*b"Gt", '\u{1f2a}'), (*b"Gv", '\u{1f6c}'), (*b"Gw", '\u{1f88}'), (*b"Gx", '\u{1fac}'),
    (*b"H0", '\u{0411}'), (*b"H1", '\u{0425}'), (*b"H2", '\u{0409}'), (*b"H3", '\u{047a}'), (*b"H4", '\u{04a8}'),
    (*b"H6", '\u{04f6}'), (*b"H7", '\u{0531}'), (*b"H8", '\u{0545}'), (*b"H9", '\u{2161}'), (*b"H@", '\u{ff28}'),
    (*b"Ha", '\u{0182}'), (*b"Hb", '\u{01b5}'), (*b"Hc", '\u{01e0}'), (*b"Hd", '\u{020a}'), (*b"He", '\u{0232}'),
    (*b"Hh", '\u{019d}'), (*b"Hl", '\u{1e02}'), (*b"Hm", '\u{1e2a}'), (*b"Hn", '\u{1e52}'), (*b"Ho", '\u{1e7a}'),
    (*b"Hq", '\u{1ec0}'), (*b"Hr", '\u{1ee8}'), (*b"Hs", '\u{1f09}'), (*b"Ht", '\u{1f2b}'), (*b"Hv", '\u{1f6d}'),
    (*b"Hw", '\u{1f89}'), (*b"Hx", '\u{1fad}'), (*b"I0", '\u{0412}'), (*b"I1", '\u{0426}'), (*b"I2", '\u{040a}'),
    (*b"I3", '\u{047c}'), (*b"I4", '\u{04aa}'), (*b"I5", '\u{04d0}'), (*b"I6", '\u{04f8}'), (*b"I7", '\u{0532}'),
    (*b"I8", '\u{0546}'), (*b"I9", '\u{2162}'), (*b"I@", '\u{ff29}'), (*b"Ia", '\u{0184}'), (*b"Ib", '\u{01b8}'),
    (*b"Ic", '\u{01e2}'), (*b"Id", '\u{020c}'), (*b"Il", '\u{1e04}'), (*b"Im", '\u{1e2c}'), (*b"In", '\u{1e54}'),
    (*b"Io", '\u{1e7c}'), (*b"Iq", '\u{1ec2}'), (*b"Ir", '\u{1eea}'), (*b"Is", '\u{1f0a}'), (*b"It", '\u{1f2c}'),
    (*b"Iv", '\u{1f6e}'), (*b"Iw", '\u{1f8a}'), (*b"Ix", '\u{1fae}'), (*b"J0", '\u{0413}'), (*b"J1", '\u{0427}'),
    (*b"J2", '\u{040b}'), (*b"J3", '\u{047e}'), (*b"J4", '\u{04ac}'), (*b"J5", '\u{04d2}'), (*b"J7", '\u{0533}'),
    (*b"J8", '\u{0547}'), (*b"J9", '\u{2163}'), (*b"J@", '\u{ff2a}'), (*b"Ja", '\u{0187}'), (*b"Jc", '\u{01e4}'),
    (*b"Jd", '\u{020e}'), (*b"Jg", '\u{0193}'), (*b"Ji", '\u{01ae}'), (*b"Jl", '\u{1e06}'), (*b"Jm", '\u{1e2e}'),
    (*b"Jn", '\u{1e56}'), (*b"Jo", '\u{1e7e}'), (*b"Jq", '\u{1ec4}'), (*b"Jr", '\u{1eec}'), (*b"Js", '\u{1f0b}'),
    (*b"Jt", '\u{1f2d}'), (*b"Jv", '\u{1f6f}'), (*b"Jw", '\u{1f8b}'), (*b"Jx", '\u{1faf}'), (*b"K0", '\u{0414}'),
    (*b"K1", '\u{0428}'), (*b"K2", '\u{040c}'), (*b"K3", '\u{0480}'), (*b"K4", '\u{04ae}'), (*b"K5", '\u{04d4}'),
    (*b"K7", '\u{0534}'), (*b"K8", '\u{0548}'), (*b"K9", '\u{2164}'), (*b"K@", '\u{ff2b}'), (*b"Ka", '\u{018b}'),
    (*b"Kc", '\u{01e6}'), (*b"Kd", '\u{0210}'), (*b"Kh", '\u{019f}'), (*b"Kl", '\u{1e08}'), (*b"Km", '\u{1e30}'),
    (*b"Kn", '\u{1e58}'), (*b"Ko", '\u{1e80}'), (*b"Kq", '\u{1ec6}'), (*b"Kr", '\u{1eee}'), (*b"Ks", '\u{1f0c}'),
    (*b"Kt", '\u{1f2e}'), (*b"Kv", '\u{1fba}'), (*b"Kw", '\u{1f8c}'), (*b"Kx", '\u{1fb8}'), (*b"L0", '\u{0415}'),
    (*b"L1", '\u{0429}'), (*b"L2", '\u{040d}'), (*b"L4", '\u{04b0}'), (*b"L5", '\u{04d6}'), (*b"L7", '\u{0535}'),
    (*b"L8", '\u{0549}'), (*b"L9", '\u{2165}'), (*b"L@", '\u{ff2c}'), (*b"Lc", '\u{01e8}'), (*b"Ld", '\u{0212}'),
    (*b"Li", '\u{01b1}'), (*b"Ll", '\u{1e0a}'), (*b"Lm", '\u{1e32}'), (*b"Ln", '\u{1e5a}'), (*b"Lo", '\u{1e82}'),
    (*b"Lp", '\u{1ea0}'), (*b"Lq", '\u{1ec8}'), (*b"Lr", '\u{1ef0}'), (*b"Ls", '\u{1f0d}'), (*b"Lt", '\u{1f2f}'),
    (*b"Lu", '\u{1f59}'), (*b"Lv", '\u{1fbb}'), (*b"Lw", '\u{1f8d}'), (*b"Lx", '\u{1fb9}'), (*b"M0", '\u{0416}'),
    (*b"M1", '\u{042a}'), (*b"M2", '\u{040e}'), (*b"M3", '\u{048a}'), (*b"M4", '\u{04b2}'), (*b"M5", '\u{04d8}'),
    (*b"M7", '\u{0536}'), (*b"M8", '\u{054a}'), (*b"M9", '\u{2166}'), (*b"M@", '\u{ff2d}'), (*b"Ma", '\u{0191}'),
    (*b"Mc", '\u{01ea}'), (*b"Md", '\u{0214}'), (*b"Mg", '\u{0194}'), (*b"Mi", '\u{01b2}'), (*b"Ml", '\u{1e0c}'),
    (*b"Mm", '\u{1e34}'), (*b"Mn", '\u{1e5c}'), (*b"Mo", '\u{1e84}'), (*b"Mp", '\u{1ea2}'), (*b"Mq", '\u{1eca}'),
    (*b"Mr", '\u{1ef2}'), (*b"Ms", '\u{1f0e}'), (*b"Mt", '\u{1f38}'), (*b"Mv", '\u{1fc8}'), (*b"Mw", '\u{1f8e}'),
    (*b"N0", '\u{0417}'), (*b"N1", '\u{042b}'), (*b"N2", '\u{040f}'), (*b"N3", '\u{048c}'), (*b"N4", '\u{04b4}'),
    (*b"N5", '\u{04da}'), (*b"N7", '\u{0537}'), (*b"N8", '\u{054b}'), (*b"N9", '\u{2167}'), (*b"N@", '\u{ff2e}'),
    (*b"Na", '\u{01f6}'), (*b"Nb", '\u{01bc}'), (*b"Nc", '\u{01ec}'), (*b"Nd", '\u{0216}'), (*b"Nl", '\u{1e0e}'),
    (*b"Nm", '\u{1e36}'), (*b"Nn", '\u{1e5e}'), (*b"No", '\u{1e86}'), (*b"Np", '\u{1ea4}'), (*b"Nq", '\u{1ecc}'),
    (*b"Nr", '\u{1ef4}'), (*b"Ns", '\u{1f0f}'), (*b"Nt", '\u{1f39}'), (*b"Nu", '\u{1f5b}'), (*b"Nv", '\u{1fc9}'),
    (*b"Nw", '\u{1f8f}'), (*b"Nx", '\u{1fbc}'), (*b"Ny", '\u{1fe8}'), (*b"O0", '\u{0418}'), (*b"O1", '\u{042c}'),
    (*b"O2", '\u{0460}'), (*b"O3", '\u{048e}'), (*b"O4", '\u{04b6}'), (*b"O5", '\u{04dc}'), (*b"O7", '\u{0538}'),
    (*b"O8", '\u{054c}'), (*b"O9", '\u{2168}'), (*b"O@", '\u{ff2f}'), (*b"Oa", '\u{0198}'), (*b"Ob", '\u{01c4}'),
    (*b"Oc", '\u{01ee}'), (*b"Od", '\u{0218}'), (*b"Oe", '\u{023a}'), (*b"Ol", '\u{1e10}'), (*b"Om", '\u{1e38}'),
    (*b"Oo", '\u{1e88}'), (*b"Op", '\u{1ea6}'), (*b"Oq", '\u{1ece}'), (*b"Or", '\u{1ef6}'), (*b"Os", '\u{1f18}'),
    (*b"Ot", '\u{1f3a}'), (*b"Ov", '\u{1fca}'), (*b"Ow", '\u{1f98}'), (*b"Oy", '\u{1fe9}'), (*b"P0", '\u{0419}'),
    (*b"P1", '\u{042d}'), (*b"P2", '\u{0462}'), (*b"P3", '\u{0490}'), (*b"P4", '\u{04b8}'), (*b"P5", '\u{04de}'),
    (*b"P6", '\u{0500}'), (*b"P7", '\u{0539}'), (*b"P8", '\u{054d}'), (*b"P9", '\u{2169}'), (*b"P@", '\u{ff30}'),
    (*b"Pa", '\u{023d}'), (*b"Pb", '\u{01c7}'), (*b"Pd", '\u{021a}'), (*b"Pe", '\u{023b}'), (*b"Pl", '\u{1e12}'),
    (*b"Pm", '\u{1e3a}'), (*b"Pn", '\u{1e62}'), (*b"Po", '\u{1e8a}'), (*b"Pp", '\u{1ea8}'), (*b"Pq", '\u{1ed0}'),
    (*b"Pr", '\u{1ef8}'), (*b"Ps", '\u{1f19}'), (*b"Pt", '\u{1f3b}'), (*b"Pu", '\u{1f5d}'), (*b"Pv", '\u{1fcb}'),
    (*b"Pw", '\u{1f99}'), (*b"Q0", '\u{041a}'), (*b"Q1", '\u{042e}'), (*b"Q2", '\u{0464}'), (*b"Q3", '\u{0492}'),
    (*b"Q4", '\u{04ba}'), (*b"Q5", '\u{04e0}'), (*b"Q6", '\u{0502}'), (*b"Q7", '\u{053a}'), (*b"Q8", '\u{054e}'),
    (*b"Q9", '\u{216a}'), (*b"Q@", '\u{ff31}'), (*b"Qb", '\u{01ca}'), (*b"Qc", '\u{01f1}'), (*b"Qd", '\u{021c}'),
    (*b"Qe", '\u{023e}'), (*b"Qf", '\u{0181}'), (*b"Ql", '\u{1e14}'), (*b"Qm", '\u{1e3c}'), (*b"Qn", '\u{1e64}'),
    (*b"Qo", '\u{1e8c}'), (*b"Qp", '\u{1eaa}'), (*b"Qq", '\u{1ed2}'), (*b"Qs", '\u{1f1a}'), (*b"Qt", '\u{1f3c}'),
    (*b"Qv", '\u{1fda}'), (*b"Qw", '\u{1f9a}'), (*b"R0", '\u{041b}'), (*b"R1", '\u{042f}'), (*b"R2", '\u{0466}'),
    (*b"R3", '\u{0494}'), (*b"R4", '\u{04bc}'), (*b"R5", '\u{04e2}'), (*b"R6", '\u{0504}'), (*b"R7", '\u{053b}'),
    (*b"R8", '\u{054f}'), (*b"R9", '\u{216b}'), (*b"R@", '\u{ff32}'), (*b"Ra", '\u{0220}'), (*b"Rb", '\u{01cd}'),
    (*b"Rc", '\u{01f4}'), (*b"Rd", '\u{021e}'), (*b"Rf", '\u{0186}'), (*b"Rg", '\u{0197}'), (*b"Rl", '\u{1e16}'),
    (*b"Rm", '\u{1e3e}'), (*b"Rn", '\u{1e66}'), (*b"Ro", '\u{1e8e}'), (*b"Rp", '\u{1eac}'), (*b"Rq", '\u{1ed4}'),
    (*b"Rs", '\u{1f1b}'), (*b"Rt", '\u{1f3d}'), (*b"Ru", '\u{1f5f}'), (*b"Rv", '\u{1fdb}'), (*b"Rw", '\u{1f9b}'),
    (*b"S0", '\u{041c}'), (*b"S1", '\u{0400}'), (*b"S2", '\u{0468}'), (*b"S3", '\u{0496}'), (*b"S4", '\u{04be}'),
    (*b"S5", '\u{04e4}'), (*b"S6", '\u{0506}'), (*b"S7", '\u{053c}'), (*b"S8", '\u{0550}'), (*b"S9", '\u{216c}'),
    (*b"S@", '\u{ff33}'), (*b"Sa", '\u{01a0}'), (*b"Sb", '\u{01cf}'), (*b"Sc", '\u{01f8}'), (*b"Sg", '\u{0196}'),
    (*b"Sl", '\u{1e18}'), (*b"Sm", '\u{1e40}'), (*b"Sn", '\u{1e68}'), (*b"So", '\u{1e90}'), (*b"Sp", '\u{1eae}'),
    (*b"Sq", '\u{1ed6}'), (*b"Ss", '\u{1f1c}'), (*b"St", '\u{1f3e}'), (*b"Sv", '\u{1ff8}'), (*b"Sw", '\u{1f9c}'),
    (*b"Sy", '\u{1fec}'), (*b"T0", '\u{041d}'), (*b"T1", '\u{0401}'), (*b"T2", '\u{046a}'), (*b"T3", '\u{0498}'),
    (*b"T4", '\u{04c0}'), (*b"T5", '\u{04e6}'), (*b"T6", '\u{0508}'), (*b"T7", '\u{053d}'), (*b"T8", '\u{0551}'),
    (*b"T9", '\u{216d}'), (*b"T@", '\u{ff34}'), (*b"Ta", '\u{01a2}'), (*b"Tb", '\u{01d1}'), (*b"Tc", '\u{01fa}'),
    (*b"Td", '\u{0222}'), (*b"Tf", '\u{0189}'), (*b"Ti", '\u{01b7}'), (*b"Tl", '\u{1e1a}'), (*b"Tm", '\u{1e42}'),
    (*b"Tn", '\u{1e6a}'), (*b"To", '\u{1e92}'), (*b"Tp", '\u{1eb0}'), (*b"Tq", '\u{1ed8}'), (*b"Ts", '\u{1f1d}'),
    (*b"Tt", '\u{1f3f}'), (*b"Tv", '\u{1ff9}'), (*b"Tw", '\u{1f9d}'), (*b"Tx", '\u{1fcc}'), (*b"U0", '\u{041e}'),
    (*b"U1", '\u{0402}'), (*b"U2", '\u{046c}'), (*b"U3", '\u{049a}'), (*b"U4", '\u{04c1}'), (*b"U5", '\u{04e8}'),
    (*b"U6", '\u{050a}'), (*b"U7", '\u{053e}'), (*b"U8", '\u{0552}'), (*b"U9", '\u{216e}'), (*b"U@", '\u{ff35}'),
    (*b"Ua", '\u{01a4}'), (*b"Ub", '\u{01d3}'), (*b"Uc", '\u{01fc}'), (*b"Ud", '\u{0224}'), (*b"Uf", '\u{018a}'),
    (*b"Ul", '\u{1e1c}'), (*b"Um", '\u{1e44}'), (*b"Un", '\u{1e6c}'), (*b"Uo", '\u{1e94}'), (*b"Up", '\u{1eb2}'),
    (*b"Uq", '\u{1eda}'), (*b"Ut", '\u{1f48}'), (*b"Uv", '\u{1fea}'), (*b"Uw", '\u{1f9e}'), (*b"V0", '\u{041f}'),
    (*b"V1", '\u{0403}'), (*b"V2", '\u{046e}'), (*b"V3", '\u{049c}'), (*b"V4", '\u{04c3}'), (*b"V5", '\u{04ea}'),
    (*b"V6", '\u{050c}'), (*b"V7", '\u{053f}'), (*b"V8", '\u{0553}'), (*b"V9", '\u{216f}'), (*b"V@", '\u{ff36}'),
    (*b"Va", '\u{01a7}'), (*b"Vb", '\u{01d5}'), (*b"Vc", '\u{01fe}'), (*b"Vd", '\u{0226}'), (*b"Vh", '\u{01a6}'),
    (*b"Vi", '\u{0241}'), (*b"Vl", '\u{1e1e}'), (*b"Vm", '\u{1e46}'), (*b"Vn", '\u{1e6e}'), (*b"Vp", '\u{1eb4}'),
    (*b"Vq", '\u{1edc}'), (*b"Vt", '\u{1f49}'), (*b"Vv", '\u{1feb}'), (*b"Vw", '\u{1f9f}'), (*b"W0", '\u{0420}'),
    (*b"W1", '\u{0404}'), (*b"W2", '\u{0470}'), (*b"W3", '\u{049e}'), (*b"W4", '\u{04c5}'), (*b"W5", '\u{04ec}'),
    (*b"W6", '\u{050e}'), (*b"W7", '\u{0540}'), (*b"W8", '\u{0554}'), (*b"W@", '\u{ff37}'), (*b"Wb", '\u{01d7}'),
    (*b"Wc", '\u{0200}'), (*b"Wd", '\u{0228}'), (*b"Wf", '\u{018f}'), (*b"Wl", '\u{1e20}'), (*b"Wm", '\u{1e48}'),
    (*b"Wn", '\u{1e70}'), (*b"Wp", '\u{1eb6}'), (*b"Wq", '\u{1ede}'), (*b"Wt", '\u{1f4a}'), (*b"Wu", '\u{1f68}'),
    (*b"Wv", '\u{1ffa}'), (*b"Ww", '\u{1fa8}'), (*b"X0", '\u{0421}'), (*b"X1", '\u{0405}'), (*b"X2", '\u{0472}'),
    (*b"X3", '\u{04a0}'), (*b"X4", '\u{04c7}'), (*b"X5", '\u{04ee}'), (*b"X7", '\u{0541}'), (*b"X8", '\u{0555}'),
    (*b"X@", '\u{ff38}'), (*b"Xb", '\u{01d9}'), (*b"Xc", '\u{0202}'), (*b"Xd", '\u{022a}'), (*b"Xl", '\u{1e22}'),
    (*b"Xm", '\u{1e4a}'), (*b"Xn", '\u{1e72}'), (*b"Xp", '\u{1eb8}'), (*b"Xq", '\u{1ee0}'), (*b"Xt", '\u{1f4b}'),
    (*b"Xu", '\u{1f69}'), (*b"Xv", '\u{1ffb}'), (*b"Xw", '\u{1fa9}'), (*b"Y0", '\u{0422}'), (*b"Y1", '\u{0406}'),
    (*b"Y2", '\u{0474}'), (*b"Y3", '\u{04a2}'), (*b"Y4", '\u{04c9}'), (*b"Y5", '\u{04f0}'), (*b"Y7", '\u{0542}'),
    (*b"Y@", '\u{ff39}'), (*b"Ya", '\u{01ac}'), (*b"Yb", '\u{01db}'), (*b"Yc", '\u{0204}'), (*b"Yd", '\u{022c}'),
    (*b"Yf", '\u{0190}'), (*b"Yg", '\u{019c}'), (*b"Yh", '\u{01a9}'), (*b"Yl", '\u{1e24}'), (*b"Ym", '\u{1e4c}'),
    (*b"Yn", '\u{1e74}'), (*b"Yp", '\u{1eba}'), (*b"Yq", '\u{1ee2}'), (*b"Ys", '\u{1f28}'), (*b"Yt", '\u{1f4c}'),
    (*b"Yu", '\u{1f6a}'), (*b"Yw", '\u{1faa}'), (*b"Yx", '\u{1fd8}'), (*b"Yy", '\u{1ffc}'), (*b"Z0", '\u{0423}'),
    (*b"Z1", '\u{0407}'), (*b"Z2", '\u{0476}'), (*b"Z3", '\u{04a4}'), (*b"Z4", '\u{04cb}'), (*b"Z5", '\u{04f2}'),
    (*b"Z7", '\u{0543}'), (*b"Z@", '\u{ff3a}'), (*b"Za", '\u{01af}'), (*b"Zb", '\u{018e}'), (*b"Zc", '\u{0206}'),
    (*b"Zd", '\u{022e}'), (*b"Zl", '\u{1e26}'), (*b"Zm", '\u{1e4e}'), (*b"Zn", '\u{1e76}'), (*b"Zp", '\u{1ebc}'),
    (*b"Zq", '\u{1ee4}'), (*b"Zs", '\u{1f29}'), (*b"Zt", '\u{1f4d}'), (*b"Zu", '\u{1f6b}'), (*b"Zw", '\u{1fab}'),
    (*b"Zx", '\u{1fd9}'), (*b"a@", '\u{ff41}'), (*b"b@", '\u{ff42}'), (*b"c@", '\u{ff43}'), (*b"d@", '\u{ff44}'),
    (*b"e@", '\u{ff45}'), (*b"f@", '\u{ff46}'), (*b"g0", '\u{0430}'), (*b"g1", '\u{0444}'), (*b"g2", '\u{0458}'),
    (*b"g3", '\u{0479}'), (*b"g4", '\u{04a7}'), (*b"g5", '\u{04ce}'), (*b"g6", '\u{04f5}'), (*b"g8", '\u{0574}'),
    (*b"g9", '\u{2170}'), (*b"g@", '\u{ff47}'), (*b"ga", '\u{0180}'), (*b"gb", '\u{01b4}'), (*b"gc", '\u{01df}'),
    (*b"gd", '\u{0209}'), (*b"ge", '\u{0231}'), (*b"gg", '\u{025d}'), (*b"gh", '\u{0271}'), (*b"gi", '\u{0285}'),
    (*b"gj", '\u{0299}'), (*b"gk", '\u{02ad}'), (*b"gl", '\u{1e01}'), (*b"gm", '\u{1e29}'), (*b"gn", '\u{1e51}'),
    (*b"go", '\u{1e79}'), (*b"gp", '\u{1e9b}'), (*b"gq", '\u{1ebf}'), (*b"gr", '\u{1ee7}'), (*b"gs", '\u{1f00}'),
    (*b"gt", '\u{1f22}'), (*b"gv", '\u{1f64}'), (*b"gw", '\u{1f80}'), (*b"gx", '\u{1fa4}'), (*b"gy", '\u{1fd2}'),
    (*b"h0", '\u{0431}'), (*b"h1", '\u{0445}'), (*b"h2", '\u{0459}'), (*b"h3", '\u{047b}'), (*b"h4", '\u{04a9}'),
    (*b"h6", '\u{04f7}'), (*b"h7", '\u{0561}'), (*b"h8", '\u{0575}'), (*b"h9", '\u{2171}'), (*b"h@", '\u{ff48}'),
    (*b"ha", '\u{0183}'), (*b"hb", '\u{01b6}'), (*b"hc", '\u{01e1}'), (*b"hd", '\u{020b}'), (*b"he", '\u{0233}'),
    (*b"hg", '\u{025e}'), (*b"hh", '\u{0272}'), (*b"hi", '\u{0286}'), (*b"hj", '\u{029a}'), (*b"hk", '\u{02ae}'),
    (*b"hl", '\u{1e03}'), (*b"hm", '\u{1e2b}'), (*b"hn", '\u{1e53}'), (*b"ho", '\u{1e7b}'), (*b"hq", '\u{1ec1}'),
    (*b"hr", '\u{1ee9}'), (*b"hs", '\u{1f01}'), (*b"ht", '\u{1f23}'), (*b"hv", '\u{1f65}'), (*b"hw", '\u{1f81}'),
    (*b"hx", '\u{1fa5}'), (*b"hy", '\u{1fd3}'), (*b"hz", '\u{1ff6}'), (*b"i0", '\u{0432}'), (*b"i1", '\u{0446}'),
    (*b"i2", '\u{045a}'), (*b"i3", '\u{047d}'), (*b"i4", '\u{04ab}'), (*b"i5", '\u{04d1}'), (*b"i6", '\u{04f9}'),
    (*b"i7", '\u{0562}'), (*b"i8", '\u{0576}'), (*b"i9", '\u{2172}'), (*b"i@", '\u{ff49}'), (*b"ia", '\u{0185}'),
    (*b"ib", '\u{01b9}'), (*b"ic", '\u{01e3}'), (*b"id", '\u{020d}'), (*b"ie", '\u{0234}'), (*b"ig", '\u{025f}'),
    (*b"ih", '\u{0273}'), (*b"ii", '\u{0287}'), (*b"ij", '\u{029b}'), (*b"ik", '\u{02af}'), (*b"il", '\u{1e05}'),
    (*b"im", '\u{1e2d}'), (*b"in", '\u{1e55}'), (*b"io", '\u{1e7d}'), (*b"iq", '\u{1ec3}'), (*b"ir", '\u{1eeb}'),
    (*b"is", '\u{1f02}'), (*b"it", '\u{1f24}'), (*b"iv", '\u{1f66}'), (*b"iw", '\u{1f82}'), (*b"ix", '\u{1fa6}'),
    (*b"iz", '\u{1ff7}'), (*b"j0", '\u{0433}'), (*b"j1", '\u{0447}'), (*b"j2", '\u{045b}'), (*b"j3", '\u{047f}'),
    (*b"j4", '\u{04ad}'), (*b"j5", '\u{04d3}'), (*b"j7", '\u{0563}'), (*b"j8", '\u{0577}'), (*b"j9", '\u{2173}'),
    (*b"j@", '\u{ff4a}'), (*b"ja", '\u{0188}'), (*b"jb", '\u{01ba}'), (*b"jc", '\u{01e5}'), (*b"jd", '\u{020f}'),
    (*b"je", '\u{0235}'), (*b"jg", '\u{0260}'), (*b"jh", '\u{0274}'), (*b"ji", '\u{0288}'), (*b"jj", '\u{029c}'),
    (*b"jl", '\u{1e07}'), (*b"jm", '\u{1e2f}'), (*b"jn", '\u{1e57}'), (*b"jo", '\u{1e7f}'), (*b"jq", '\u{1ec5}'),
    (*b"jr", '\u{1eed}'), (*b"js", '\u{1f03}'), (*b"jt", '\u{1f25}'), (*b"jv", '\u{1f67}'), (*b"jw", '\u{1f83}'),
    (*b"jx", '\u{1fa7}'), (*b"k0", '\u{0434}'), (*b"k1", '\u{0448}'), (*b"k2", '\u{045c}'), (*b"k3", '\u{0481}'),
    (*b"k4", '\u{04af}'), (*b"k5", '\u{04d5}'), (*b"k7", '\u{0564}'), (*b"k8", '\u{0578}'), (*b"k9", '\u{2174}'),
    (*b"k@", '\u{ff4b}'), (*b"ka", '\u{018c}'), (*b"kb", '\u{01bb}'), (*b"kc", '\u{01e7}'), (*b"kd", '\u{0211}'),
    (*b"ke", '\u{0236}'), (*b"kg", '\u{0261}'), (*b"kh", '\u{0275}'), (*b"ki", '\u{0289}'), (*b"kj", '\u{029d}'),
    (*b"kl", '\u{1e09}'), (*b"km", '\u{1e31}'), (*b"kn", '\u{1e59}'), (*b"ko", '\u{1e81}'), (*b"kq", '\u{1ec7}'),
    (*b"kr", '\u{1eef}'), (*b"ks", '\u{1f04}'), (*b"kt", '\u{1f26}'), (*b"ku", '\u{1f50}'), (*b"kv", '\u{1f70}'),
    (*b"kw", '\u{1f84}'), (*b"kx", '\u{1fb0}'), (*b"ky", '\u{1fd6}'), (*b"l0", '\u{0435}'), (*b"l1", '\u{0449}'),
    (*b"l2", '\u{045d}'), (*b"l4", '\u{04b1}'), (*b"l5", '\u{04d7}'), (*b"l7", '\u{0565}'), (*b"l8", '\u{0579}'),
    (*b"l9", '\u{2175}'), (*b"l@", '\u{ff4c}'), (*b"la", '\u{018d}'), (*b"lc", '\u{01e9}'), (*b"ld", '\u{0213}'),
    (*b"le", '\u{0237}'), (*b"lg", '\u{0262}'), (*b"lh", '\u{0276}'), (*b"li", '\u{028a}'), (*b"lj", '\u{029e}'),
    (*b"ll", '\u{1e0b}'), (*b"lm", '\u{1e33}'), (*b"ln", '\u{1e5b}'), (*b"lo", '\u{1e83}'), (*b"lp", '\u{1ea1}'),
    (*b"lq", '\u{1ec9}'), (*b"lr", '\u{1ef1}'), (*b"ls", '\u{1f05}'), (*b"lt", '\u{1f27}'), (*b"lu", '\u{1f51}'),
    (*b"lv", '\u{1f71}'), (*b"lw", '\u{1f85}'), (*b"lx", '\u{1fb1}'), (*b"ly", '\u{1fd7}'), (*b"m0", '\u{0436}'),
    (*b"m1", '\u{044a}'), (*b"m2", '\u{045e}'), (*b"m3", '\u{048b}'), (*b"m4", '\u{04b3}'), (*b"m5", '\u{04d9}'),
    (*b"m7", '\u{0566}'), (*b"m8", '\u{057a}'), (*b"m9", '\u{2176}'), (*b"m@", '\u{ff4d}'), (*b"ma", '\u{0192}'),
    (*b"mb", '\u{01be}'), (*b"mc", '\u{01eb}'), (*b"md", '\u{0215}'), (*b"me", '\u{0238}'), (*b"mg", '\u{0263}'),
    (*b"mh", '\u{0277}'), (*b"mi", '\u{028b}'), (*b"mj", '\u{029f}'), (*b"ml", '\u{1e0d}'), (*b"mm", '\u{1e35}'),
    (*b"mn", '\u{1e5d}'), (*b"mo", '\u{1e85}'), (*b"mp", '\u{1ea3}'), (*b"mq", '\u{1ecb}'), (*b"mr", '\u{1ef3}'),
    (*b"ms", '\u{1f06}'), (*b"mt", '\u{1f30}'), (*b"mu", '\u{1f52}'), (*b"mv", '\u{1f72}'), (*b"mw", '\u{1f86}'),
    (*b"mx", '\u{1fb2}'), (*b"n0", '\u{0437}'), (*b"n1", '\u{044b}'), (*b"n2", '\u{045f}'), (*b"n3", '\u{048d}'),
    (*b"n4", '\u{04b5}'), (*b"n5", '\u{04db}'), (*b"n7", '\u{0567}'), (*b"n8", '\u{057b}'), (*b"n9", '\u{2177}'),
    (*b"n@", '\u{ff4e}'), (*b"na", '\u{0195}'), (*b"nb", '\u{01bd}'), (*b"nc", '\u{01ed}'), (*b"nd", '\u{0217}'),
    (*b"ne", '\u{0239}'), (*b"nf", '\u{0250}'), (*b"ng", '\u{0264}'), (*b"nh", '\u{0278}'), (*b"ni", '\u{028c}'),
    (*b"nj", '\u{02a0}'), (*b"nl", '\u{1e0f}'), (*b"nm", '\u{1e37}'), (*b"nn", '\u{1e5f}'), (*b"no", '\u{1e87}'),
    (*b"np", '\u{1ea5}'), (*b"nq", '\u{1ecd}'), (*b"nr", '\u{1ef5}'), (*b"ns", '\u{1f07}'), (*b"nt", '\u{1f31}'),
    (*b"nu", '\u{1f53}'), (*b"nv", '\u{1f73}'), (*b"nw", '\u{1f87}'), (*b"nx", '\u{1fb3}'), (*b"ny", '\u{1fe0}'),
    (*b"o0", '\u{0438}'), (*b"o1", '\u{044c}'), (*b"o2", '\u{0461}'), (*b"o3", '\u{048f}'), (*b"o4", '\u{04b7}'),
    (*b"o5", '\u{04dd}'), (*b"o7", '\u{0568}'), (*b"o8", '\u{057c}'), (*b"o9", '\u{2178}'), (*b"o@", '\u{ff4f}'),
    (*b"oa", '\u{0199}'), (*b"ob", '\u{01c6}'), (*b"oc", '\u{01ef}'), (*b"od", '\u{0219}'), (*b"of", '\u{0251}'),
    (*b"og", '\u{0265}'), (*b"oh", '\u{0279}'), (*b"oi", '\u{028d}'), (*b"oj", '\u{02a1}'), (*b"ol", '\u{1e11}'),
    (*b"om", '\u{1e39}'), (*b"on", '\u{1e61}'), (*b"oo", '\u{1e89}'), (*b"op", '\u{1ea7}'), (*b"oq", '\u{1ecf}'),
    (*b"or", '\u{1ef7}'), (*b"os", '\u{1f10}'), (*b"ot", '\u{1f32}'), (*b"ou", '\u{1f54}'), (*b"ov", '\u{1f74}'),
    (*b"ow", '\u{1f90}'), (*b"ox", '\u{1fb4}'), (*b"oy", '\u{1fe1}'), (*b"p0", '\u{0439}'), (*b"p1", '\u{044d}'),
    (*b"p2", '\u{0463}'), (*b"p3", '\u{0491}'), (*b"p4", '\u{04b9}'), (*b"p5", '\u{04df}'), (*b"p6", '\u{0501}'),
    (*b"p7", '\u{0569}'), (*b"p8", '\u{057d}'), (*b"p9", '\u{2179}'), (*b"p@", '\u{ff50}'), (*b"pa", '\u{019a}'),
    (*b"pb", '\u{01c9}'), (*b"pc", '\u{01f0}'), (*b"pd", '\u{021b}'), (*b"pe", '\u{023c}'), (*b"pf", '\u{0252}'),
    (*b"pg", '\u{0266}'), (*b"ph", '\u{027a}'), (*b"pi", '\u{028e}'), (*b"pj", '\u{02a2}'), (*b"pl", '\u{1e13}'),
    (*b"pm", '\u{1e3b}'), (*b"pn", '\u{1e63}'), (*b"po", '\u{1e8b}'), (*b"pp", '\u{1ea9}'), (*b"pq", '\u{1ed1}'),
    (*b"pr", '\u{1ef9}'), (*b"ps", '\u{1f11}'), (*b"pt", '\u{1f33}'), (*b"pu", '\u{1f55}'), (*b"pv", '\u{1f75}'),
    (*b"pw", '\u{1f91}'), (*b"py", '\u{1fe2}'), (*b"q0", '\u{043a}'), (*b"q1", '\u{044e}'), (*b"q2", '\u{0465}'),
    (*b"q3", '\u{0493}'), (*b"q4", '\u{04bb}'), (*b"q5", '\u{04e1}'), (*b"q6", '\u{0503}'), (*b"q7", '\u{056a}'),
    (*b"q8", '\u{057e}'), (*b"q9", '\u{217a}'), (*b"q@", '\u{ff51}'), (*b"qa", '\u{019b}'), (*b"qb", '\u{01cc}'),
    (*b"qc", '\u{01f3}'), (*b"qd", '\u{021d}'), (*b"qf", '\u{0253}'), (*b"qg", '\u{0267}'), (*b"qh", '\u{027b}'),
    (*b"qi", '\u{028f}'), (*b"qj", '\u{02a3}'), (*b"ql", '\u{1e15}'), (*b"qm", '\u{1e3d}'), (*b"qn", '\u{1e65}'),
    (*b"qo", '\u{1e8d}'), (*b"qp", '\u{1eab}'), (*b"qq", '\u{1ed3}'), (*b"qs", '\u{1f12}'), (*b"qt", '\u{1f34}'),
    (*b"qu", '\u{1f56}'), (*b"qv", '\u{1f76}'), (*b"qw", '\u{1f92}'), (*b"qx", '\u{1fb6}'), (*b"qy", '\u{1fe3}'),
    (*b"r0", '\u{043b}'), (*b"r1", '\u{044f}'), (*b"r2", '\u{0467}'), (*b"r3", '\u{0495}'), (*b"r4", '\u{04bd}'),
    (*b"r5", '\u{04e3}'), (*b"r6", '\u{0505}'), (*b"r7", '\u{056b}'), (*b"r8", '\u{057f}'), (*b"r9", '\u{217b}'),
    (*b"r@", '\u{ff52}'), (*b"ra", '\u{019e}'), (*b"rb", '\u{01ce}'), (*b"rc", '\u{01f5}'), (*b"rd", '\u{021f}'),
    (*b"re", '\u{023f}'), (*b"rf", '\u{0254}'), (*b"rg", '\u{0268}'), (*b"rh", '\u{027c}'), (*b"ri", '\u{0290}'),
    (*b"rj", '\u{02a4}'), (*b"rl", '\u{1e17}'), (*b"rm", '\u{1e3f}'), (*b"rn", '\u{1e67}'), (*b"ro", '\u{1e8f}'),
    (*b"rp", '\u{1ead}'), (*b"rq", '\u{1ed5}'), (*b"rs", '\u{1f13}'), (*b"rt", '\u{1f35}'), (*b"ru", '\u{1f57}'),
    (*b"rv", '\u{1f77}'), (*b"rw", '\u{1f93}'), (*b"rx", '\u{1fb7}'), (*b"ry", '\u{1fe4}'), (*b"s0", '\u{043c}'),
    (*b"s1", '\u{0450}'), (*b"s2", '\u{0469}'), (*b"s3", '\u{0497}'), (*b"s4", '\u{04bf}'), (*b"s5", '\u{04e5}'),
    (*b"s6", '\u{0507}'), (*b"s7", '\u{056c}'), (*b"s8", '\u{0580}'), (*b"s9", '\u{217c}'), (*b"s@", '\u{ff53}'),
    (*b"sa", '\u{01a1}'), (*b"sb", '\u{01d0}'), (*b"sc", '\u{01f9}'), (*b"sd", '\u{0221}'), (*b"se", '\u{0240}'),
    (*b"sf", '\u{0255}'), (*b"sg", '\u{0269}'), (*b"sh", '\u{027d}'), (*b"si", '\u{0291}'), (*b"sj", '\u{02a5}'),
    (*b"sl", '\u{1e19}'), (*b"sm", '\u{1e41}'), (*b"sn", '\u{1e69}'), (*b"so", '\u{1e91}'), (*b"sp", '\u{1eaf}'),
    (*b"sq", '\u{1ed7}'), (*b"ss", '\u{1f14}'), (*b"st", '\u{1f36}'), (*b"sv", '\u{1f78}'), (*b"sw", '\u{1f94}'),
    (*b"sx", '\u{1fc2}'), (*b"sy", '\u{1fe5}'), (*b"t0", '\u{043d}'), (*b"t1", '\u{0451}'), (*b"t2", '\u{046b}'),
    (*b"t3", '\u{0499}'), (*b"t5", '\u{04e7}'), (*b"t6", '\u{0509}'), (*b"t7", '\u{056d}'), (*b"t8", '\u{0581}'),
    (*b"t9", '\u{217d}'), (*b"t@", '\u{ff54}'), (*b"ta", '\u{01a3}'), (*b"tb", '\u{01d2}'), (*b"tc", '\u{01fb}'),
    (*b"td", '\u{0223}'), (*b"tf", '\u{0256}'), (*b"tg", '\u{026a}'), (*b"th", '\u{027e}'), (*b"ti", '\u{0292}'),
    (*b"tj", '\u{02a6}'), (*b"tl", '\u{1e1b}'), (*b"tm", '\u{1e43}'), (*b"tn", '\u{1e6b}'), (*b"to", '\u{1e93}'),
    (*b"tp", '\u{1eb1}'), (*b"tq", '\u{1ed9}'), (*b"ts", '\u{1f15}'), (*b"tt", '\u{1f37}'), (*b"tv", '\u{1f79}'),
    (*b"tw", '\u{1f95}'), (*b"tx", '\u{1fc3}'), (*b"ty", '\u{1fe6}'), (*b"u0", '\u{043e}'), (*b"u1", '\u{0452}'),
    (*b"u2", '\u{046d}'), (*b"u3", '\u{049b}'), (*b"u4", '\u{04c2}'), (*b"u5", '\u{04e9}'), (*b"u6", '\u{050b}'),
    (*b"u7", '\u{056e}'), (*b"u8", '\u{0582}'), (*b"u9", '\u{217e}'), (*b"u@", '\u{ff55}'), (*b"ua", '\u{01a5}'),
    (*b"ub", '\u{01d4}'), (*b"uc", '\u{01fd}'), (*b"ud", '\u{0225}'), (*b"uf", '\u{0257}'), (*b"ug", '\u{026b}'),
    (*b"uh", '\u{027f}'), (*b"ui", '\u{0293}'), (*b"uj", '\u{02a7}'), (*b"ul", '\u{1e1d}'), (*b"um", '\u{1e45}'),
    (*b"un", '\u{1e6d}'), (*b"uo", '\u{1e95}'), (*b"up", '\u{1eb3}'), (*b"uq", '\u{1edb}'), (*b"ut", '\u{1f40}'),
    (*b"uv", '\u{1f7a}'), (*b"uw", '\u{1f96}'), (*b"ux", '\u{1fc4}'), (*b"uy", '\u{1fe7}'), (*b"v0", '\u{043f}'),
    (*b"v1", '\u{0453}'), (*b"v2", '\u{046f}'), (*b"v3", '\u{049d}'), (*b"v4", '\u{04c4}'), (*b"v5", '\u{04eb}'),
    (*b"v6", '\u{050d}'), (*b"v7", '\u{056f}'), (*b"v8", '\u{0583}'), (*b"v9", '\u{217f}'), (*b"v@", '\u{ff56}'),
    (*b"va", '\u{01a8}'), (*b"vb", '\u{01d6}'), (*b"vc", '\u{01ff}'), (*b"vd", '\u{0227}'), (*b"vf", '\u{0258}'),
    (*b"vg", '\u{026c}'), (*b"vh", '\u{0280}'), (*b"vi", '\u{0294}'), (*b"vj", '\u{02a8}'), (*b"vl", '\u{1e1f}'),
    (*b"vm", '\u{1e47}'), (*b"vn", '\u{1e6f}'), (*b"vo", '\u{1e96}'), (*b"vp", '\u{1eb5}'), (*b"vq", '\u{1edd}'),
    (*b"vt", '\u{1f41}'), (*b"vv", '\u{1f7b}'), (*b"vw", '\u{1f97}'), (*b"w0", '\u{0440}'), (*b"w1", '\u{0454}'),
    (*b"w2", '\u{0471}'), (*b"w3", '\u{049f}'), (*b"w4", '\u{04c6}'), (*b"w5", '\u{04ed}'), (*b"w6", '\u{050f}'),
    (*b"w7", '\u{0570}'), (*b"w8", '\u{0584}'), (*b"w@", '\u{ff57}'), (*b"wa", '\u{01aa}'), (*b"wb", '\u{01d8}'),
    (*b"wc", '\u{0201}'), (*b"wd", '\u{0229}'), (*b"wf", '\u{0259}'), (*b"wg", '\u{026d}'), (*b"wh", '\u{0281}'),
    (*b"wi", '\u{0295}'), (*b"wj", '\u{02a9}'), (*b"wl", '\u{1e21}'), (*b"wm", '\u{1e49}'), (*b"wn", '\u{1e71}'),
    (*b"wo", '\u{1e97}'), (*b"wp", '\u{1eb7}'), (*b"wq", '\u{1edf}'), (*b"wt", '\u{1f42}'), (*b"wu", '\u{1f60}'),
    (*b"wv", '\u{1f7c}'), (*b"ww", '\u{1fa0}'), (*b"wx", '\u{1fc6}'), (*b"x0", '\u{0441}'), (*b"x1", '\u{0455}'),
    (*b"x2", '\u{0473}'), (*b"x3", '\u{04a1}'), (*b"x4", '\u{04c8}'), (*b"x5", '\u{04ef}'), (*b"x7", '\u{0571}'),
    (*b"x8", '\u{0585}'), (*b"x@", '\u{ff58}'), (*b"xa", '\u{01ab}'), (*b"xb", '\u{01da}'), (*b"xc", '\u{0203}'),
    (*b"xd", '\u{022b}'), (*b"xf", '\u{025a}'), (*b"xg", '\u{026e}'), (*b"xh", '\u{0282}'), (*b"xi", '\u{0296}'),
    (*b"xj", '\u{02aa}'), (*b"xl", '\u{1e23}'), (*b"xm", '\u{1e4b}'), (*b"xn", '\u{1e73}'), (*b"xo", '\u{1e98}'),
    (*b"xp", '\u{1eb9}'), (*b"xq", '\u{1ee1}'), (*b"xt", '\u{1f43}'), (*b"xu", '\u{1f61}'), (*b"xv", '\u{1f7d}'),
    (*b"xw", '\u{1fa1}'), (*b"xx", '\u{1fc7}'), (*b"xy", '\u{1ff2}'), (*b"y0", '\u{0442}'), (*b"y1", '\u{0456}'),
    (*b"y2", '\u{0475}'), (*b"y3", '\u{04a3}'), (*b"y4", '\u{04ca}'), (*b"y5", '\u{04f1}'), (*b"y7", '\u{0572}'),
    (*b"y@", '\u{ff59}'), (*b"ya", '\u{01ad}'), (*b"yb", '\u{01dc}'), (*b"yc", '\u{0205}'), (*b"yd", '\u{022d}'),
    (*b"yf", '\u{025b}'), (*b"yg", '\u{026f}'), (*b"yh", '\u{0283}'), (*b"yi", '\u{0297}'), (*b"yj", '\u{02ab}'),
    (*b"yl", '\u{1e25}'), (*b"ym", '\u{1e4d}'), (*b"yn", '\u{1e75}'), (*b"yo", '\u{1e99}'), (*b"yp", '\u{1ebb}'),
    (*b"yq", '\u{1ee3}'), (*b"ys", '\u{1f20}'), (*b"yt", '\u{1f44}'), (*b"yu", '\u{1f62}'), (*b"yw", '\u{1fa2}'),
    (*b"yx", '\u{1fd0}'), (*b"yy", '\u{1ff3}'), (*b"z0", '\u{0443}'), (*b"z1", '\u{0457}'), (*b"z2", '\u{0477}'),
    (*b"z3", '\u{04a5}'), (*b"z4", '\u{04cc}'), (*b"z5", '\u{04f3}'), (*b"z7", '\u{0573}'), (*b"z@", '\u{ff5a}'),
    (*b"za", '\u{01b0}'), (*b"zb", '\u{01dd}'), (*b"zc", '\u{0207}'), (*b"zd", '\u{022f}'), (*b"zf", '\u{025c}'),
    (*b"zg", '\u{0270}'), (*b"zh", '\u{0284}'), (*b"zi", '\u{0298}'), (*b"zj", '\u{02ac}'), (*b"zl", '\u{1e27}'),
    (*b"zm", '\u{1e4f}'), (*b"zn", '\u{1e77}'), (*b"zo", '\u{1e9a}'), (*b"zp", '\u{1ebd}'), (*b"zq", '\u{1ee5}'),
    (*b"zs", '\u{1f21}'), (*b"zt", '\u{1f45}'), (*b"zu", '\u{1f63}'), (*b"zw", '\u{1fa3}'), (*b"zx", '\u{1fd1}'),
    (*b"zy", '\u{1ff4}'),
];

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn decode_filename_table() {
        fn check(input: &str, expected: &str) {
            assert_eq!(decode_filename(input), expected, "decoding {input:?}");
        }
        // Plain names pass through.
        check("", "");
        check("plain_db1", "plain_db1");
        // Four-hex-digit escapes.
        check("test@002d01", "test-01");
        check("my@0020db", "my db");
        check("a@002eb", "a.b");
        check("caf@00e9", "café");
        check("@002D", "-");
        check("x@0040y", "x@y");
        check("@20ac", "€");
        check("@4e2d@6587", "中文");
        // The decoded `@` is not decoded again.
        check("@0040002d", "@002d");
        // Two-character codes, as MariaDB actually writes these letters.
        check("caf@0p", "café");
        check("@0G@0g", "Àà");
        check("@1o", "ü");
        check("@7P", "Ω");
        check("@G0", "А");
        check("@@A", "Ⓐ");
        check("@A@", "Ａ");
        // What the server wrote for `dbfa_probe_x-1 é.ü€中Ω`.
        check(
            "dbfa_probe_x@002d1@0020@0p@002e@1o@20ac@4e2d@7P",
            "dbfa_probe_x-1 é.ü€中Ω",
        );
        // Incomplete or invalid escapes stay as written.
        check("a@", "a@");
        check("a@0", "a@0");
        check("a@00", "a@00");
        check("a@00e", "a@00e");
        check("a@zz", "a@zz");
        check("a@00g9", "a@00g9");
        check("@d800x", "@d800x");
        check("@@@", "@@@");
        check("@é", "@é");
        check("@0é", "@0é");
    }

    #[test]
    fn filename_code_table_is_sorted_and_unique() {
        for pair in FILENAME_CODES.windows(2) {
            assert!(
                pair[0].0 < pair[1].0,
                "{:?} before {:?}",
                pair[0].0,
                pair[1].0
            );
        }
        assert_eq!(FILENAME_CODES.len(), 1511);
        // No code could be mistaken for the start of a hex escape.
        for (code, _) in FILENAME_CODES {
            assert!(!code.iter().all(u8::is_ascii_hexdigit), "{code:?}");
        }
    }

    #[test]
    fn bytes_to_mib_table() {
        fn check(bytes: i64, expected: i64) {
            assert_eq!(bytes_to_mib(bytes), expected, "bytes {bytes}");
        }
        check(i64::MIN, 0);
        check(-1, 0);
        check(0, 0);
        check(1, 1);
        check(MIB - 1, 1);
        check(MIB, 1);
        check(MIB + 1, 2);
        check(2 * MIB, 2);
        check(98_304, 1);
        check(10 * MIB + 5, 11);
        check(i64::MAX, i64::MAX / MIB + 1);
    }

    #[test]
    fn aggregate_tablespaces_table() {
        fn check(rows: &[(&str, Option<i64>)], expected: &[(&str, i64)]) {
            let rows = rows.iter().map(|(n, s)| (n.to_string(), *s));
            let got = aggregate_tablespaces(rows);
            let expected: BTreeMap<String, i64> =
                expected.iter().map(|(n, s)| (n.to_string(), *s)).collect();
            assert_eq!(got, expected);
        }
        check(&[], &[]);
        check(
            &[("shop/orders", Some(100)), ("shop/items", Some(50))],
            &[("shop", 150)],
        );
        check(&[("innodb_system", Some(12))], &[("innodb_system", 12)]);
        check(
            &[("test@002d01/t", Some(10)), ("test@002d01/u#P#p0", Some(5))],
            &[("test-01", 15)],
        );
        check(&[("a/b/c", Some(7))], &[("a", 7)]);
        // NULL or unusable sizes drop the row, not the database.
        check(&[("a/x", None), ("a/y", Some(3))], &[("a", 3)]);
        check(&[("a/x", None)], &[]);
        check(&[("a/x", Some(-100)), ("a/y", Some(3))], &[("a", 3)]);
        check(&[("/x", Some(3)), ("  /y", Some(4))], &[]);
        check(
            &[("a/x", Some(i64::MAX)), ("a/y", Some(1))],
            &[("a", i64::MAX)],
        );
        // Two encodings of one name add up under the decoded name.
        check(
            &[("caf@0p/t", Some(1)), ("caf@00e9/u", Some(2))],
            &[("café", 3)],
        );
    }

    #[test]
    fn parse_size_text_table() {
        fn check(text: &str, expected: Option<i64>) {
            assert_eq!(parse_size_text(text), expected, "text {text:?}");
        }
        check("123", Some(123));
        check(" 42 ", Some(42));
        check("-5", Some(-5));
        check("1.5e3", Some(1500));
        check("65536.0", Some(65536));
        check("18446744073709551615", Some(i64::MAX));
        check("", None);
        check("abc", None);
        check("NaN", None);
        check("inf", None);
    }

    #[test]
    fn flavor_table() {
        fn check(version: &str, expected: Flavor) {
            assert_eq!(
                Flavor::from_version(version),
                expected,
                "version {version:?}"
            );
        }
        check("10.11.19-MariaDB-0+deb12u1", Flavor::MariaDb);
        check("5.5.5-10.6.12-MariaDB", Flavor::MariaDb);
        check("11.4.2-mariadb-log", Flavor::MariaDb);
        check("8.0.36", Flavor::Mysql8);
        check("8.4.0-commercial", Flavor::Mysql8);
        check("9.1.0", Flavor::Mysql8);
        check("5.7.44-log", Flavor::MysqlLegacy);
        check("", Flavor::MysqlLegacy);
        assert_eq!(
            Flavor::MariaDb.tablespace_views()[0],
            "INNODB_SYS_TABLESPACES"
        );
        assert_eq!(Flavor::Mysql8.tablespace_views()[0], "INNODB_TABLESPACES");
        assert_eq!(
            Flavor::MysqlLegacy.tablespace_views()[0],
            "INNODB_SYS_TABLESPACES"
        );
    }

    #[test]
    fn statement_timeout_units() {
        assert_eq!(
            mariadb_statement_seconds(Duration::from_millis(1500)),
            "1.500"
        );
        assert_eq!(mariadb_statement_seconds(Duration::ZERO), "0.000");
        assert_eq!(mysql_statement_millis(Duration::from_secs(30)), 30_000);
        assert_eq!(mysql_statement_millis(Duration::from_micros(10)), 1);
        assert_eq!(mysql_statement_millis(Duration::ZERO), 0);
    }

    #[test]
    fn system_databases() {
        for name in ["information_schema", "performance_schema", "mysql", "sys"] {
            assert!(is_system_database(name), "{name}");
        }
        for name in ["test", "MySQL", "sys2", ""] {
            assert!(!is_system_database(name), "{name}");
        }
    }
}
