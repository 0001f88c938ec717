//! Uptime Kuma: its SQLite database `kuma.db` (tables `monitor`, `tag`, `monitor_tag`; monitors of type
//! `group` become groups, their children the group's tiles) or the version 1 JSON backup (`monitorList`).
//! http, keyword (and inverted), port, dns, ping and push monitors map, with interval, retries, accepted
//! status codes, TLS and redirect settings, active/paused and tags.

use std::{collections::HashMap, path::Path};

use serde_json::Value;
use sqlx::{Connection, Row, sqlite::SqliteConnectOptions};

use super::{Imported, host_url, interval_within, tile};
use crate::model::{Check, CheckKind};

/// Monitors outside any group land here.
const DEFAULT_GROUP: &str = "Uptime Kuma";

/// One monitor, from either source.
#[derive(Debug, Default, Clone)]
struct Monitor {
    id: i64,
    name: String,
    kind: String,
    active: bool,
    interval: i64,
    url: Option<String>,
    hostname: Option<String>,
    port: Option<i64>,
    keyword: Option<String>,
    invert_keyword: bool,
    upside_down: bool,
    maxretries: i64,
    ignore_tls: bool,
    maxredirects: i64,
    accepted: Vec<String>,
    dns_resolve_type: Option<String>,
    method: Option<String>,
    description: Option<String>,
    parent: Option<i64>,
    push_token: Option<String>,
    tags: Vec<String>,
}

pub async fn read(file: &Path) -> Result<Imported, String> {
    let bytes = std::fs::read(file).map_err(|err| format!("cannot read {}: {err}", file.display()))?;
    let monitors = if bytes.starts_with(b"SQLite format 3\0") {
        from_db(file).await?
    } else {
        let value: Value = serde_json::from_slice(&bytes).map_err(|err| {
            format!(
                "{} is neither Uptime Kuma's kuma.db nor its JSON backup: {err}",
                file.display()
            )
        })?;
        from_backup(&value).ok_or_else(|| {
            format!(
                "{} has no `monitorList`; is it Uptime Kuma's backup?",
                file.display()
            )
        })?
    };
    Ok(map(monitors))
}

async fn from_db(file: &Path) -> Result<Vec<Monitor>, String> {
    let options = SqliteConnectOptions::new().filename(file).read_only(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(|err| format!("cannot open {}: {err}", file.display()))?;
    let rows = sqlx::query("SELECT * FROM monitor ORDER BY weight DESC, id")
        .fetch_all(&mut conn)
        .await
        .or(sqlx::query("SELECT * FROM monitor ORDER BY id")
            .fetch_all(&mut conn)
            .await)
        .map_err(|err| format!("{} has no readable `monitor` table: {err}", file.display()))?;
    let text = |row: &sqlx::sqlite::SqliteRow, column: &str| -> Option<String> {
        row.try_get::<Option<String>, _>(column)
            .ok()
            .flatten()
            .filter(|t| !t.trim().is_empty())
    };
    let int = |row: &sqlx::sqlite::SqliteRow, column: &str| -> Option<i64> {
        row.try_get::<Option<i64>, _>(column).ok().flatten()
    };
    let mut monitors: Vec<Monitor> = rows
        .iter()
        .map(|row| Monitor {
            id: int(row, "id").unwrap_or_default(),
            name: text(row, "name").unwrap_or_default(),
            kind: text(row, "type").unwrap_or_else(|| "http".into()),
            active: int(row, "active").unwrap_or(1) != 0,
            interval: int(row, "interval").unwrap_or(60),
            url: text(row, "url"),
            hostname: text(row, "hostname"),
            port: int(row, "port"),
            keyword: text(row, "keyword"),
            invert_keyword: int(row, "invert_keyword").unwrap_or(0) != 0,
            upside_down: int(row, "upside_down").unwrap_or(0) != 0,
            maxretries: int(row, "maxretries").unwrap_or(0),
            ignore_tls: int(row, "ignore_tls").unwrap_or(0) != 0,
            maxredirects: int(row, "maxredirects").unwrap_or(10),
            accepted: text(row, "accepted_statuscodes_json")
                .and_then(|json| serde_json::from_str(&json).ok())
                .unwrap_or_default(),
            dns_resolve_type: text(row, "dns_resolve_type"),
            method: text(row, "method"),
            description: text(row, "description"),
            parent: int(row, "parent"),
            push_token: text(row, "push_token"),
            tags: Vec::new(),
        })
        .collect();
    let tags: Vec<(i64, String, Option<String>)> = sqlx::query_as(
        "SELECT mt.monitor_id, t.name, mt.value FROM monitor_tag mt JOIN tag t ON t.id = mt.tag_id ORDER BY mt.id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap_or_default();
    let _ = conn.close().await;
    let mut by_monitor: HashMap<i64, Vec<String>> = HashMap::new();
    for (monitor, name, value) in tags {
        by_monitor
            .entry(monitor)
            .or_default()
            .push(tag_text(&name, value.as_deref()));
    }
    for monitor in &mut monitors {
        monitor.tags = by_monitor.remove(&monitor.id).unwrap_or_default();
    }
    Ok(monitors)
}

/// A Kuma tag as a Homewatch tag: `name`, or `name:value` when it has a value.
fn tag_text(name: &str, value: Option<&str>) -> String {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(value) => format!("{name}:{value}"),
        None => name.to_owned(),
    }
}

fn from_backup(value: &Value) -> Option<Vec<Monitor>> {
    let list = value.get("monitorList")?.as_array()?;
    let text = |m: &Value, key: &str| {
        m.get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .filter(|t| !t.trim().is_empty())
    };
    let int = |m: &Value, key: &str| m.get(key).and_then(Value::as_i64);
    let flag = |m: &Value, key: &str| match m.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        _ => false,
    };
    Some(
        list.iter()
            .map(|m| Monitor {
                id: int(m, "id").unwrap_or_default(),
                name: text(m, "name").unwrap_or_default(),
                kind: text(m, "type").unwrap_or_else(|| "http".into()),
                active: m.get("active").is_none() || flag(m, "active"),
                interval: int(m, "interval").unwrap_or(60),
                url: text(m, "url"),
                hostname: text(m, "hostname"),
                port: int(m, "port"),
                keyword: text(m, "keyword"),
                invert_keyword: flag(m, "invertKeyword"),
                upside_down: flag(m, "upsideDown"),
                maxretries: int(m, "maxretries").unwrap_or(0),
                ignore_tls: flag(m, "ignoreTls"),
                maxredirects: int(m, "maxredirects").unwrap_or(10),
                accepted: m
                    .get("accepted_statuscodes")
                    .and_then(Value::as_array)
                    .map(|codes| {
                        codes
                            .iter()
                            .filter_map(|c| c.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                dns_resolve_type: text(m, "dns_resolve_type"),
                method: text(m, "method"),
                description: text(m, "description"),
                parent: int(m, "parent"),
                push_token: text(m, "pushToken"),
                tags: m
                    .get("tags")
                    .and_then(Value::as_array)
                    .map(|tags| {
                        tags.iter()
                            .filter_map(|t| {
                                let name = t.get("name")?.as_str()?;
                                Some(tag_text(name, t.get("value").and_then(Value::as_str)))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect(),
    )
}

fn map(monitors: Vec<Monitor>) -> Imported {
    let mut imported = Imported::new();
    let names: HashMap<i64, &Monitor> = monitors.iter().map(|m| (m.id, m)).collect();
    // A group's full name: nested groups flattened as "A / B".
    let group_name = |mut id: Option<i64>| -> String {
        let mut parts = Vec::new();
        while let Some(parent) = id.and_then(|id| names.get(&id)) {
            parts.push(parent.name.clone());
            id = parent.parent;
            if parts.len() > 10 {
                break;
            }
        }
        parts.reverse();
        if parts.is_empty() {
            DEFAULT_GROUP.to_owned()
        } else {
            parts.join(" / ")
        }
    };
    for monitor in &monitors {
        if monitor.kind == "group" {
            continue;
        }
        let group = group_name(monitor.parent);
        let item = format!("{group} / {}", monitor.name);
        let host = monitor.hostname.clone().unwrap_or_default();
        let (mut spec, mut check) = match monitor.kind.as_str() {
            "http" | "keyword" => {
                let Some(url) = monitor.url.clone() else {
                    imported.skip(item, "monitor", "has no url");
                    continue;
                };
                let mut check = Check::bare(match monitor.kind.as_str() {
                    "keyword" => CheckKind::Keyword,
                    _ => CheckKind::Http,
                });
                if monitor.kind == "keyword" {
                    check.keyword = monitor.keyword.clone();
                    if monitor.invert_keyword {
                        check.keyword_absent = Some(true);
                    }
                }
                if let Some(method) = monitor.method.clone().filter(|m| m != "GET") {
                    check.method = Some(method);
                }
                if !monitor.accepted.is_empty() && monitor.accepted != ["200-299"] {
                    check.expected_status = Some(monitor.accepted.join(","));
                }
                if monitor.ignore_tls {
                    check.verify_tls = Some(false);
                }
                if monitor.maxredirects == 0 {
                    check.follow_redirects = Some(false);
                }
                (tile(&monitor.name, &url), check)
            }
            "port" => {
                let Some(port) = monitor.port else {
                    imported.skip(item, "monitor", "a port monitor without a port");
                    continue;
                };
                let mut check = Check::bare(CheckKind::Tcp);
                check.target = Some(format!("{host}:{port}"));
                (tile(&monitor.name, &host_url(&host)), check)
            }
            "dns" => {
                let mut check = Check::bare(CheckKind::Dns);
                check.target = Some(host.clone());
                check.record_type = monitor.dns_resolve_type.clone().map(|t| t.to_uppercase());
                (tile(&monitor.name, &host_url(&host)), check)
            }
            "ping" => {
                let mut check = Check::bare(CheckKind::Ping);
                check.target = Some(host.clone());
                (tile(&monitor.name, &host_url(&host)), check)
            }
            "push" => {
                let mut check = Check::bare(CheckKind::Push);
                check.token = monitor.push_token.clone().filter(|t| t.len() >= 16);
                if monitor.push_token.is_some() && check.token.is_none() {
                    imported.skip(
                        &item,
                        "push token",
                        "shorter than Homewatch's 16 characters; a new one is made",
                    );
                }
                let url = monitor.url.clone().unwrap_or_else(|| "http://localhost".into());
                (tile(&monitor.name, &url), check)
            }
            other => {
                imported.skip(item, "monitor", format!("Homewatch has no `{other}` check"));
                continue;
            }
        };
        if monitor.upside_down {
            imported.skip(
                &item,
                "upside down mode",
                "Homewatch has no inverted checks (a keyword check can look for absence)",
            );
        }
        check.interval_s = Some(interval_within(
            monitor.interval.max(0) as u64,
            &item,
            &mut imported,
        ));
        let retries = monitor.maxretries.clamp(0, 10);
        if retries != monitor.maxretries {
            imported.skip(
                &item,
                "retries",
                format!("{} is more than 10; 10 is used", monitor.maxretries),
            );
        }
        if check.kind != CheckKind::Push || retries != 0 {
            check.retries = Some(retries as u32);
        }
        spec.description = monitor.description.clone().unwrap_or_default();
        spec.tags = monitor
            .tags
            .iter()
            .map(|t| {
                t.chars()
                    .take(crate::model::TAG_MAX_CHARS)
                    .collect::<String>()
                    .to_lowercase()
            })
            .collect();
        spec.paused = !monitor.active;
        spec.check = Some(check);
        imported.add(&group, spec);
    }
    imported
}
