//! The migrations of both stores, embedded by build.rs, as sqlx's `Migrator` (what `sqlx::migrate!` built:
//! same versions, descriptions and checksums, so databases migrated before keep their history).

use std::{borrow::Cow, sync::LazyLock};

use sqlx::migrate::{Migration, MigrationType, Migrator};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

fn migrator(files: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = files
        .iter()
        .map(|&(version, description, sql)| {
            let no_tx = sql.starts_with("-- no-transaction");
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                no_tx,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

pub static SQLITE: LazyLock<Migrator> = LazyLock::new(|| migrator(embedded::SQLITE));

#[cfg(feature = "postgres")]
pub static POSTGRES: LazyLock<Migrator> = LazyLock::new(|| migrator(embedded::POSTGRES));

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The embedded list is what sqlx itself reads from the directory (the `migrate!` macro used the same
    /// reading): versions, descriptions, kinds and checksums, in order.
    fn same_as_sqlx(migrator: &Migrator, store: &str) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(store);
        let mut read: Vec<Migration> = sqlx::migrate::resolve_blocking(&dir)
            .expect("sqlx reads the migrations")
            .into_iter()
            .map(|(migration, _)| migration)
            .collect();
        read.sort_by_key(|migration| migration.version);
        assert!(!read.is_empty());
        let key = |m: &Migration| {
            let description = m.description.to_string();
            (
                m.version,
                description,
                m.migration_type,
                m.checksum.to_vec(),
                m.no_tx,
            )
        };
        let ours: Vec<_> = migrator.iter().map(key).collect();
        let theirs: Vec<_> = read.iter().map(key).collect();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn sqlite_migrations_match_the_directory() {
        same_as_sqlx(&SQLITE, "sqlite");
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_migrations_match_the_directory() {
        same_as_sqlx(&POSTGRES, "postgres");
    }
}
