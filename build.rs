//! Embeds the SQL migrations of both stores (migrations/sqlite, migrations/postgres) as lists of
//! `(version, description, sql)` that api/store/migrations.rs turns into sqlx's `Migrator`. Versions and
//! descriptions come from the file names the way sqlx reads them (`0004_accounts.sql`: 4, "accounts").
//! (sqlx's `migrate!` macro did this, but its proc-macro crates build a second sqlx and SQLite for the build
//! host.)

use std::{env, fs, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let root =
        Path::new(&env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("migrations");
    let mut code = String::new();
    for (store, feature) in [("sqlite", None), ("postgres", Some("postgres"))] {
        let dir = root.join(store);
        let mut files: Vec<(i64, String, String)> = Vec::new();
        for entry in fs::read_dir(&dir).unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display())) {
            let path = entry.expect("a readable directory entry").path();
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or_default()
                .to_owned();
            let Some((version, rest)) = name.split_once('_') else {
                continue;
            };
            let Some(description) = rest.strip_suffix(".sql") else {
                continue;
            };
            assert!(
                !description.ends_with(".up") && !description.ends_with(".down"),
                "{name}: reversible migrations are not used; write a new migration instead"
            );
            let version: i64 = version.parse().unwrap_or_else(|_| {
                panic!("{name}: a migration's name starts with its version, as in 0012_name.sql")
            });
            files.push((version, description.replace('_', " "), path.display().to_string()));
        }
        files.sort();
        if let Some(feature) = feature {
            code += &format!("#[cfg(feature = {feature:?})]\n");
        }
        code += &format!("pub const {}: &[(i64, &str, &str)] = &[\n", store.to_uppercase());
        for (version, description, path) in files {
            code += &format!("    ({version}, {description:?}, include_str!({path:?})),\n");
        }
        code += "];\n";
    }
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("migrations.rs");
    fs::write(&out, code).unwrap_or_else(|err| panic!("cannot write {}: {err}", out.display()));
}
