//! Importers from the tools people use today: each reads the other tool's file into a Homewatch document
//! and reports, item by item, what it could not map and why. Applying the document (by names) makes an
//! import re-runnable without duplicates.

use std::path::Path;

use serde_json::Value;

use super::{GroupSpec, Manifest, TileSpec, VERSION};
use crate::config::ImportSource;

mod gatus;
mod homepage;
mod kuma;

/// Something the importer left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Which item: a service, endpoint or monitor name, with its group.
    pub item: String,
    /// What was not imported (a field, or the whole item).
    pub what: String,
    pub why: String,
}

/// What an importer read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imported {
    pub manifest: Manifest,
    pub report: Vec<Skipped>,
}

impl Imported {
    fn new() -> Self {
        Self {
            manifest: Manifest {
                version: VERSION,
                ..Manifest::default()
            },
            report: Vec::new(),
        }
    }

    fn skip(&mut self, item: impl Into<String>, what: impl Into<String>, why: impl Into<String>) {
        self.report.push(Skipped {
            item: item.into(),
            what: what.into(),
            why: why.into(),
        });
    }

    /// Adds a tile to the named group (made when missing, in order of first use). A second tile of the same
    /// name in a group gets a number, so nothing is lost.
    fn add(&mut self, group: &str, mut tile: TileSpec) {
        let index = match self
            .manifest
            .groups
            .iter()
            .position(|g| g.name.eq_ignore_ascii_case(group))
        {
            Some(index) => index,
            None => {
                self.manifest.groups.push(GroupSpec {
                    name: group.to_owned(),
                    tiles: Vec::new(),
                });
                self.manifest.groups.len() - 1
            }
        };
        let tiles = &mut self.manifest.groups[index].tiles;
        let base = tile.name.clone();
        let mut n = 2;
        while tiles.iter().any(|t| t.name.eq_ignore_ascii_case(&tile.name)) {
            tile.name = format!("{base} ({n})");
            n += 1;
        }
        tiles.push(tile);
    }

    /// The report as lines for people.
    pub fn render_report(&self) -> String {
        let tiles: usize = self.manifest.groups.iter().map(|g| g.tiles.len()).sum();
        let mut out = format!(
            "read {} group{} and {tiles} tile{}",
            self.manifest.groups.len(),
            if self.manifest.groups.len() == 1 { "" } else { "s" },
            if tiles == 1 { "" } else { "s" },
        );
        if self.report.is_empty() {
            out.push_str("; everything was mapped\n");
            return out;
        }
        out.push_str(&format!("; not imported ({}):\n", self.report.len()));
        for skipped in &self.report {
            out.push_str(&format!(
                "  {}: {}: {}\n",
                skipped.item, skipped.what, skipped.why
            ));
        }
        out
    }
}

/// Reads `file` as the chosen tool's configuration.
pub async fn read(from: ImportSource, file: &Path) -> Result<Imported, String> {
    match from {
        ImportSource::Homepage => homepage::read(&read_text(file)?, &file.display().to_string()),
        ImportSource::Gatus => gatus::read(&read_text(file)?, &file.display().to_string()),
        ImportSource::UptimeKuma => kuma::read(file).await,
    }
}

/// Reads an uploaded file (`name` only names it in messages): text for Homepage and Gatus; for Uptime Kuma
/// its database (kept in a private temporary file while it is read) or its JSON backup.
pub async fn read_bytes(from: ImportSource, bytes: &[u8], name: &str) -> Result<Imported, String> {
    let text = || String::from_utf8(bytes.to_vec()).map_err(|_| format!("{name} is not UTF-8 text"));
    match from {
        ImportSource::Homepage => homepage::read(&text()?, name),
        ImportSource::Gatus => gatus::read(&text()?, name),
        ImportSource::UptimeKuma => {
            let mut random = [0_u8; 12];
            getrandom::fill(&mut random).map_err(|err| err.to_string())?;
            let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
            let path = std::env::temp_dir().join(format!("homewatch-import-{suffix}"));
            std::fs::write(&path, bytes).map_err(|err| format!("cannot keep the upload: {err}"))?;
            let imported = kuma::read(&path).await;
            let _ = std::fs::remove_file(&path);
            imported.map_err(|err| err.replace(&path.display().to_string(), name))
        }
    }
}

fn read_text(file: &Path) -> Result<String, String> {
    std::fs::read_to_string(file).map_err(|err| format!("cannot read {}: {err}", file.display()))
}

/// A YAML file as a JSON value (lines are not needed: the report names items).
fn yaml(text: &str, file: &str) -> Result<Value, String> {
    super::load::parse(text, file)
        .map(|located| located.value)
        .map_err(|problem| problem.to_string())
}

fn text_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text.trim().to_owned()).filter(|t| !t.is_empty()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A tile with only its name and URL.
fn tile(name: &str, url: &str) -> TileSpec {
    TileSpec {
        name: name.chars().take(crate::model::NAME_MAX_CHARS).collect(),
        url: url.to_owned(),
        description: String::new(),
        icon: None,
        tags: Vec::new(),
        check: None,
        badges: false,
        paused: false,
    }
}

/// A http(s) URL for a tile whose check watches a host (tcp, dns, ping): `http://host`.
fn host_url(host: &str) -> String {
    let host = host.trim();
    if host.contains(':') && !host.starts_with('[') && host.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("http://[{host}]")
    } else {
        format!("http://{host}")
    }
}

/// Seconds within Homewatch's check interval range (5 s to a day), with a note when it had to move.
fn interval_within(seconds: u64, item: &str, imported: &mut Imported) -> u32 {
    let clamped = seconds.clamp(5, 86_400);
    if clamped != seconds {
        imported.skip(
            item,
            "interval",
            format!("{seconds} s is outside 5 s to 1 day; {clamped} s is used"),
        );
    }
    clamped as u32
}
