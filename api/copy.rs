//! `homewatch copy --from URL --to URL`: everything — configuration, accounts and tokens, history (raw results,
//! rollups, incidents), notifications and their attempts — from one store to another, such as SQLite to
//! PostgreSQL and back.
//!
//! The source is read inside one snapshot (a read transaction), so a server may keep running on it: the copy
//! is the store as it was when the copy began. The target is migrated first and must be empty unless
//! `--force` (which empties it). Rows keep their ids; PostgreSQL's identity sequences are moved past them.
//! At the end, every table's row count and a SHA-256 of its rows (each value in a form both stores share) are
//! compared between the source's snapshot and the target. An interrupted copy leaves a target that holds data:
//! run it again with `--force`.

use std::{collections::BTreeMap, fmt::Write as _, io::IsTerminal, time::Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::Connection;
#[cfg(feature = "postgres")]
use sqlx::{PgConnection, postgres::PgConnectOptions};
use sqlx::{Row, SqliteConnection, sqlite::SqliteConnectOptions};

use crate::{
    config::Config,
    server::StartError,
    store::{self, DatabaseUrl, StoreKind},
};

/// How a column's values are read and written: integers of any width, booleans, text, instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Bool,
    Text,
    Time,
}

/// One table: its columns (`name:kind`, kinds `i` integer, `b` boolean, `t` text, `T` instant), the columns
/// its rows are ordered by, and whether `id` is a PostgreSQL identity column.
struct Table {
    name: &'static str,
    columns: &'static str,
    order: &'static str,
    identity: bool,
}

/// Every table of the schema, parents before children (foreign keys hold while rows go in).
const TABLES: &[Table] = &[
    Table {
        name: "groups",
        columns: "id:i name:t position:i created_at:T updated_at:T",
        order: "id",
        identity: true,
    },
    Table {
        name: "services",
        columns: "id:i group_id:i name:t url:t description:t icon:t position:i created_at:T updated_at:T \
                  check_spec:t paused:b tags:t push_token:t badges:b managed:b",
        order: "id",
        identity: true,
    },
    Table {
        name: "service_tags",
        columns: "service_id:i ordinal:i tag:t",
        order: "service_id, tag",
        identity: false,
    },
    Table {
        name: "service_status",
        columns: "service_id:i state:t since:T last_checked_at:T last_latency_ms:i last_error:t failures:i \
                  alerted_state:t alerted_since:T flapping_since:T cert_expires_at:T cert_issuer:t cert_subject:t \
                  cert_warned_expiry:T cert_warned_days:i",
        order: "service_id",
        identity: false,
    },
    Table {
        name: "check_results",
        columns: "service_id:i checked_at:i ok:b latency_ms:i status_code:i error:t maintenance:b degraded:b \
                  packet_loss_pct:i",
        order: "service_id, checked_at",
        identity: false,
    },
    Table {
        name: "check_rollups",
        columns: "service_id:i hour:i checks:i ok_checks:i latency_sum:i latency_min:i latency_max:i b0:i b1:i b2:i \
                  b3:i b4:i b5:i b6:i b7:i b8:i b9:i b10:i b11:i b12:i b13:i b14:i b15:i",
        order: "service_id, hour",
        identity: false,
    },
    Table {
        name: "incidents",
        columns: "id:i service_id:i started_at:T ended_at:T cause:t",
        order: "id",
        identity: true,
    },
    Table {
        name: "users",
        columns: "id:i username:t password_hash:t role:t created_at:T updated_at:T",
        order: "id",
        identity: true,
    },
    Table {
        name: "sessions",
        columns: "id:i user_id:i token_hash:t created_at:T last_seen_at:T expires_at:T",
        order: "id",
        identity: true,
    },
    Table {
        name: "api_tokens",
        columns: "id:i user_id:i name:t scope:t token_hash:t created_at:T last_used_at:T expires_at:T",
        order: "id",
        identity: true,
    },
    Table {
        name: "channels",
        columns: "id:i name:t kind:t settings:t all_tiles:b enabled:b remind_every_s:i created_at:i updated_at:i",
        order: "id",
        identity: true,
    },
    Table {
        name: "channel_targets",
        columns: "channel_id:i group_id:i service_id:i",
        order: "channel_id, group_id, service_id",
        identity: false,
    },
    Table {
        name: "notifications",
        columns: "id:i idempotency_key:t channel_id:i channel_name:t service_id:i service_name:t group_name:t event:t \
                  payload:t created_at:i status:t attempts:i next_attempt_at:i claimed_by:t claimed_until:i \
                  finished_at:i",
        order: "id",
        identity: true,
    },
    Table {
        name: "notification_attempts",
        columns: "notification_id:i attempt:i at:i duration_ms:i ok:b status_code:i detail:t",
        order: "notification_id, attempt",
        identity: false,
    },
    Table {
        name: "maintenance_windows",
        columns: "id:i title:t starts_at:i duration_s:i rrule:t timezone:t all_tiles:b created_at:i updated_at:i",
        order: "id",
        identity: true,
    },
    Table {
        name: "maintenance_targets",
        columns: "window_id:i group_id:i service_id:i",
        order: "window_id, group_id, service_id",
        identity: false,
    },
    Table {
        name: "status_pages",
        columns: "id:i slug:t title:t description:t icon:t footer:t published:b domain:t show_links:b sections:t \
                  created_at:i updated_at:i",
        order: "id",
        identity: true,
    },
    Table {
        name: "posts",
        columns: "id:i title:t status:t services:t created_at:i updated_at:i resolved_at:i",
        order: "id",
        identity: true,
    },
    Table {
        name: "post_updates",
        columns: "id:i post_id:i status:t body:t created_at:i",
        order: "id",
        identity: true,
    },
];

impl Table {
    fn columns(&self) -> Vec<(&'static str, Kind)> {
        self.columns
            .split_whitespace()
            .map(|spec| {
                let (name, kind) = spec.split_once(':').unwrap_or((spec, "t"));
                let kind = match kind {
                    "i" => Kind::Int,
                    "b" => Kind::Bool,
                    "T" => Kind::Time,
                    _ => Kind::Text,
                };
                (name, kind)
            })
            .collect()
    }
}

/// Tables of the replicas' runtime state (heartbeats, relayed events, the shared login backoff, setup
/// tokens): PostgreSQL only, and meaningless in another store, so the copy leaves them out.
pub const NOT_COPIED: &[&str] = &["replicas", "cluster_events", "login_backoff", "setup_tokens"];

/// The names of every table the copy moves, in order (the schema test holds them to the migrations).
pub fn table_names() -> Vec<&'static str> {
    TABLES.iter().map(|t| t.name).collect()
}

/// Each table's columns, as `table -> [column]`.
pub fn table_columns() -> BTreeMap<&'static str, Vec<&'static str>> {
    TABLES
        .iter()
        .map(|t| (t.name, t.columns().into_iter().map(|(name, _)| name).collect()))
        .collect()
}

/// One value, read from either store.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<String>),
    Time(Option<DateTime<Utc>>),
}

impl Cell {
    /// The value as both stores' copies of it print: what the checksums hash.
    fn canonical(&self, out: &mut String) {
        let _ = match self {
            Cell::Int(Some(v)) => write!(out, "{v}"),
            Cell::Bool(Some(v)) => write!(out, "{v}"),
            Cell::Text(Some(v)) => write!(out, "{v:?}"),
            Cell::Time(Some(v)) => write!(out, "{}", v.to_rfc3339_opts(SecondsFormat::Millis, true)),
            _ => write!(out, "NULL"),
        };
    }
}

/// A connection to one side of the copy.
enum Side {
    Sqlite(SqliteConnection),
    #[cfg(feature = "postgres")]
    Postgres(PgConnection),
}

type CopyResult<T> = Result<T, StartError>;

fn failed(what: &str, err: impl std::fmt::Display) -> StartError {
    StartError::Runtime(format!("{what}: {err}"))
}

fn sqlite_cell(row: &sqlx::sqlite::SqliteRow, i: usize, kind: Kind) -> Result<Cell, sqlx::Error> {
    Ok(match kind {
        Kind::Int => Cell::Int(row.try_get(i)?),
        Kind::Bool => Cell::Bool(row.try_get(i)?),
        Kind::Text => Cell::Text(row.try_get(i)?),
        Kind::Time => Cell::Time(row.try_get(i)?),
    })
}

#[cfg(feature = "postgres")]
fn pg_cell(row: &sqlx::postgres::PgRow, i: usize, kind: Kind) -> Result<Cell, sqlx::Error> {
    Ok(match kind {
        Kind::Int => Cell::Int(row.try_get(i)?),
        Kind::Bool => Cell::Bool(row.try_get(i)?),
        Kind::Text => Cell::Text(row.try_get(i)?),
        Kind::Time => Cell::Time(row.try_get(i)?),
    })
}

macro_rules! bind_cells {
    ($query:expr, $cells:expr) => {{
        let mut query = $query;
        for cell in $cells {
            query = match cell {
                Cell::Int(v) => query.bind(*v),
                Cell::Bool(v) => query.bind(*v),
                Cell::Text(v) => query.bind(v.as_deref()),
                Cell::Time(v) => query.bind(*v),
            };
        }
        query
    }};
}

impl Side {
    async fn open(url: &DatabaseUrl) -> CopyResult<Self> {
        match url.scheme() {
            "sqlite" => {
                let path = store::sqlite::file_of(url)?;
                let options = SqliteConnectOptions::new().filename(&path).foreign_keys(true);
                let conn = SqliteConnection::connect_with(&options)
                    .await
                    .map_err(|err| failed(&format!("cannot open {}", path.display()), err))?;
                Ok(Side::Sqlite(conn))
            }
            #[cfg(feature = "postgres")]
            _ => {
                let options: PgConnectOptions = url
                    .expose()
                    .parse()
                    .map_err(|err| StartError::Config(url.scrub(&format!("{err}"))))?;
                let conn = PgConnection::connect_with(&options).await.map_err(|err| {
                    StartError::Runtime(url.scrub(&format!("cannot reach {}: {err}", url.redacted())))
                })?;
                Ok(Side::Postgres(conn))
            }
            #[cfg(not(feature = "postgres"))]
            other => Err(StartError::Config(format!(
                "`{other}` stores need a build with `--features postgres`"
            ))),
        }
    }

    fn is_postgres(&self) -> bool {
        match self {
            Side::Sqlite(_) => false,
            #[cfg(feature = "postgres")]
            Side::Postgres(_) => true,
        }
    }

    /// Up to `limit` rows of `table` after the row `after` (by its order columns), in order. Tables whose order
    /// columns may be NULL (the `_targets` tables, small) come whole.
    async fn page(
        &mut self,
        table: &Table,
        after: Option<&[Cell]>,
        limit: usize,
    ) -> CopyResult<Vec<Vec<Cell>>> {
        let columns = table.columns();
        let keys: Vec<&str> = table.order.split(',').map(str::trim).collect();
        let paged = !table.name.ends_with("_targets");
        let postgres = self.is_postgres();
        let list: Vec<String> = columns
            .iter()
            .map(|(name, kind)| match (postgres, kind) {
                (true, Kind::Int) => format!("{name}::bigint"),
                _ => (*name).to_owned(),
            })
            .collect();
        let mut text = format!("SELECT {} FROM {}", list.join(", "), table.name);
        let mut bound: Vec<Cell> = Vec::new();
        if let (true, Some(after)) = (paged, after) {
            let places: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
            let _ = write!(text, " WHERE ({}) > ({})", keys.join(", "), places.join(", "));
            for key in &keys {
                let index = columns
                    .iter()
                    .position(|(name, _)| name == key)
                    .unwrap_or_default();
                bound.push(after[index].clone());
            }
        }
        let _ = write!(text, " ORDER BY {}", table.order);
        if paged {
            let _ = write!(text, " LIMIT {limit}");
        } else if after.is_some() {
            return Ok(Vec::new());
        }
        let failed_read = |err| failed(&format!("reading {}", table.name), err);
        let rows = match self {
            Side::Sqlite(conn) => {
                let rows = bind_cells!(sqlx::query(&text), &bound)
                    .fetch_all(conn)
                    .await
                    .map_err(failed_read)?;
                rows.iter()
                    .map(|row| {
                        columns
                            .iter()
                            .enumerate()
                            .map(|(i, (_, kind))| sqlite_cell(row, i, *kind))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .collect::<Result<Vec<_>, _>>()
            }
            #[cfg(feature = "postgres")]
            Side::Postgres(conn) => {
                let rows = bind_cells!(sqlx::query(&text), &bound)
                    .fetch_all(conn)
                    .await
                    .map_err(failed_read)?;
                rows.iter()
                    .map(|row| {
                        columns
                            .iter()
                            .enumerate()
                            .map(|(i, (_, kind))| pg_cell(row, i, *kind))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .collect::<Result<Vec<_>, _>>()
            }
        };
        rows.map_err(failed_read)
    }

    async fn execute(&mut self, text: &str) -> CopyResult<()> {
        let done = match self {
            Side::Sqlite(conn) => sqlx::raw_sql(text).execute(conn).await.map(|_| ()),
            #[cfg(feature = "postgres")]
            Side::Postgres(conn) => sqlx::raw_sql(text).execute(conn).await.map(|_| ()),
        };
        done.map_err(|err| failed(text, err))
    }

    async fn count(&mut self, table: &str) -> CopyResult<i64> {
        let text = format!("SELECT count(*) FROM {table}");
        let done = match self {
            Side::Sqlite(conn) => sqlx::query_scalar(&text).fetch_one(conn).await,
            #[cfg(feature = "postgres")]
            Side::Postgres(conn) => sqlx::query_scalar(&text).fetch_one(conn).await,
        };
        done.map_err(|err| failed(&text, err))
    }

    /// Every row of `table`, in order, handed to `each` in batches.
    async fn rows(
        &mut self,
        table: &Table,
        mut each: impl FnMut(Vec<Cell>) -> CopyResult<()>,
    ) -> CopyResult<()> {
        let columns = table.columns();
        let failed_read = |err| failed(&format!("reading {}", table.name), err);
        match self {
            Side::Sqlite(conn) => {
                let list: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
                let text = format!(
                    "SELECT {} FROM {} ORDER BY {}",
                    list.join(", "),
                    table.name,
                    table.order
                );
                let mut stream = sqlx::query(&text).fetch(conn);
                while let Some(row) = stream.try_next().await.map_err(failed_read)? {
                    let cells = columns
                        .iter()
                        .enumerate()
                        .map(|(i, (_, kind))| sqlite_cell(&row, i, *kind))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(failed_read)?;
                    each(cells)?;
                }
            }
            #[cfg(feature = "postgres")]
            Side::Postgres(conn) => {
                // Integers of every width are read as bigint.
                let list: Vec<String> = columns
                    .iter()
                    .map(|(name, kind)| match kind {
                        Kind::Int => format!("{name}::bigint"),
                        _ => (*name).to_owned(),
                    })
                    .collect();
                let text = format!(
                    "SELECT {} FROM {} ORDER BY {}",
                    list.join(", "),
                    table.name,
                    table.order
                );
                let mut stream = sqlx::query(&text).fetch(conn);
                while let Some(row) = stream.try_next().await.map_err(failed_read)? {
                    let cells = columns
                        .iter()
                        .enumerate()
                        .map(|(i, (_, kind))| pg_cell(&row, i, *kind))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(failed_read)?;
                    each(cells)?;
                }
            }
        }
        Ok(())
    }

    /// Inserts rows (each a full row of `table`'s columns) in one statement.
    async fn insert(&mut self, table: &Table, rows: &[Vec<Cell>]) -> CopyResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let columns = table.columns();
        let width = columns.len();
        let mut text = format!(
            "INSERT INTO {} ({})",
            table.name,
            columns.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        );
        let postgres = self.is_postgres();
        if table.identity && postgres {
            text.push_str(" OVERRIDING SYSTEM VALUE");
        }
        text.push_str(" VALUES ");
        for r in 0..rows.len() {
            if r > 0 {
                text.push_str(", ");
            }
            text.push('(');
            for c in 0..width {
                if c > 0 {
                    text.push_str(", ");
                }
                // SQLite looks a named parameter up in a list (quadratic over thousands of them): plain `?`.
                match postgres {
                    true => {
                        let _ = write!(text, "${}", r * width + c + 1);
                    }
                    false => text.push('?'),
                }
            }
            text.push(')');
        }
        let cells = rows.iter().flatten();
        let done = match self {
            Side::Sqlite(conn) => bind_cells!(sqlx::query(&text), cells)
                .execute(conn)
                .await
                .map(|_| ()),
            #[cfg(feature = "postgres")]
            Side::Postgres(conn) => bind_cells!(sqlx::query(&text), cells)
                .execute(conn)
                .await
                .map(|_| ()),
        };
        done.map_err(|err| failed(&format!("writing {}", table.name), err))
    }
}

/// Each table's row count and SHA-256, read on one connection (inside the caller's snapshot, if any).
async fn checksums(side: &mut Side) -> CopyResult<BTreeMap<&'static str, (u64, String)>> {
    let mut sums = BTreeMap::new();
    for table in TABLES {
        let mut hasher = Sha256::new();
        let mut count = 0_u64;
        let mut line = String::new();
        side.rows(table, |cells| {
            line.clear();
            for cell in &cells {
                cell.canonical(&mut line);
                line.push('\t');
            }
            line.push('\n');
            hasher.update(line.as_bytes());
            count += 1;
            Ok(())
        })
        .await?;
        sums.insert(table.name, (count, format!("{:x}", hasher.finalize())));
    }
    Ok(sums)
}

/// Every table's row count and SHA-256 in the store at `url` (for tests and for people comparing stores).
pub async fn fingerprint(url: &DatabaseUrl) -> CopyResult<BTreeMap<&'static str, (u64, String)>> {
    let mut side = Side::open(url).await?;
    checksums(&mut side).await
}

struct Progress {
    terminal: bool,
    total: u64,
    done: u64,
    started: Instant,
    shown: Instant,
}

impl Progress {
    fn step(&mut self, table: &str, rows: u64) {
        self.done += rows;
        if self.terminal && self.shown.elapsed().as_millis() >= 200 {
            self.shown = Instant::now();
            let width = 30;
            let filled = (self.done * width / self.total.max(1)) as usize;
            eprint!(
                "\r[{}{}] {:>3}% {} of {} rows ({table})   ",
                "#".repeat(filled),
                " ".repeat(width as usize - filled.min(width as usize)),
                self.done * 100 / self.total.max(1),
                self.done,
                self.total
            );
        }
    }
}

const BATCH_CELLS: usize = 6000;

pub async fn run(config: &Config, from: &str, to: &str, force: bool) -> CopyResult<()> {
    let from = DatabaseUrl::new(from);
    let to = DatabaseUrl::new(to);
    if from.expose() == to.expose() {
        return Err(StartError::Config("--from and --to name the same store".into()));
    }
    // The target gets the schema (and the source must have all of it) through the stores' own migrations.
    let pool = config.store.pool();
    let source_store = store::connect(&from, &pool).await?;
    let status = source_store
        .migration_status()
        .await
        .map_err(|err| failed("the source", err))?;
    source_store.close().await;
    if !status.is_current() {
        return Err(StartError::Config(format!(
            "the source has {} of {} migrations: run `homewatch migrate` on it (or start the server once) first",
            status.applied, status.expected
        )));
    }
    let target_store = store::connect(&to, &pool).await?;
    target_store
        .migrate()
        .await
        .map_err(|err| failed("migrating the target", err))?;
    let target_kind = target_store.kind();
    target_store.close().await;

    let mut source = Side::open(&from).await?;
    let mut target = Side::open(&to).await?;
    if target_kind == StoreKind::Sqlite {
        // A page cache that holds the results' time index (128 MiB, this connection only) while rows arrive.
        target
            .execute("PRAGMA cache_size = -131072; PRAGMA synchronous = NORMAL")
            .await?;
    }
    let mut held = Vec::new();
    for table in TABLES {
        let rows = target.count(table.name).await?;
        if rows > 0 {
            held.push(format!("{} ({rows})", table.name));
        }
    }
    if !held.is_empty() {
        if !force {
            return Err(StartError::Config(format!(
                "the target holds data already ({}); an interrupted copy leaves some too. \
                 Run again with --force to replace everything in it",
                held.join(", ")
            )));
        }
        let names: Vec<&str> = TABLES.iter().rev().map(|t| t.name).collect();
        match target_kind {
            StoreKind::Postgres => {
                target
                    .execute(&format!("TRUNCATE {} CASCADE", names.join(", ")))
                    .await?
            }
            StoreKind::Sqlite => {
                let mut text = String::from("BEGIN;");
                for name in &names {
                    let _ = write!(text, "DELETE FROM {name};");
                }
                text.push_str("COMMIT;");
                target.execute(&text).await?;
            }
        }
    }

    // One snapshot of the source for the whole copy and its checksums.
    match &source {
        Side::Sqlite(_) => source.execute("BEGIN").await?,
        #[cfg(feature = "postgres")]
        Side::Postgres(_) => {
            source
                .execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?
        }
    }
    let mut counts = BTreeMap::new();
    let mut total = 0_u64;
    for table in TABLES {
        let rows = source.count(table.name).await? as u64;
        counts.insert(table.name, rows);
        total += rows;
    }
    let mut progress = Progress {
        terminal: std::io::stderr().is_terminal(),
        total,
        done: 0,
        started: Instant::now(),
        shown: Instant::now(),
    };
    eprintln!(
        "copying {total} rows of {} tables from {} to {}",
        TABLES.len(),
        from.redacted(),
        to.redacted()
    );
    for table in TABLES {
        let per_batch = (BATCH_CELLS / table.columns().len()).max(1);
        let started = Instant::now();
        let mut copied = 0_u64;
        let mut last: Option<Vec<Cell>> = None;
        loop {
            // A transaction per slice of the table: fast on both stores, and memory stays bounded.
            let rows = source.page(table, last.as_deref(), per_batch * 20).await?;
            if rows.is_empty() {
                break;
            }
            target.execute("BEGIN").await?;
            for batch in rows.chunks(per_batch) {
                target.insert(table, batch).await?;
                progress.step(table.name, batch.len() as u64);
            }
            target.execute("COMMIT").await?;
            copied += rows.len() as u64;
            last = rows.last().cloned();
        }
        let read = copied;
        if !progress.terminal {
            eprintln!(
                "  {:<22} {read:>9} rows in {:.1} s",
                table.name,
                started.elapsed().as_secs_f64()
            );
        }
    }
    if progress.terminal {
        eprintln!();
    }
    let elapsed = progress.started.elapsed().as_secs_f64();
    if target_kind == StoreKind::Postgres {
        for table in TABLES.iter().filter(|t| t.identity) {
            target
                .execute(&format!(
                    "SELECT setval(pg_get_serial_sequence('{0}', 'id'), GREATEST(COALESCE(MAX(id), 0), 1), \
                     MAX(id) IS NOT NULL) FROM {0}",
                    table.name
                ))
                .await?;
        }
    }
    let expected = checksums(&mut source).await?;
    source.execute("COMMIT").await?;
    let found = checksums(&mut target).await?;
    let mut differ = Vec::new();
    for (table, (rows, sum)) in &expected {
        let (got_rows, got_sum) = found.get(table).cloned().unwrap_or_default();
        if (got_rows, &got_sum) != (*rows, sum) {
            differ.push(format!(
                "{table}: {rows} rows in the source, {got_rows} in the target"
            ));
        }
    }
    if !differ.is_empty() {
        return Err(StartError::Runtime(format!(
            "the copy does not match its source; run it again with --force:\n{}",
            differ.join("\n")
        )));
    }
    let rollups = expected
        .get("check_rollups")
        .map(|(_, sum)| sum.clone())
        .unwrap_or_default();
    println!(
        "copied {total} rows in {elapsed:.1} s ({:.0} rows/s); every table's row count and SHA-256 match \
         (rollups sha256:{}). Point DATABASE_URL at {} to switch.",
        total as f64 / elapsed.max(0.001),
        &rollups[..16.min(rollups.len())],
        to.redacted()
    );
    Ok(())
}
