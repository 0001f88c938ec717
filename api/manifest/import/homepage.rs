//! Homepage (gethomepage.dev) `services.yaml`: a list of groups, each a list of services or nested groups:
//!
//! ```yaml
//! - Media:
//!     - Jellyfin:
//!         href: http://jellyfin.lan:8096
//!         description: Movies
//!         icon: jellyfin.png
//!         siteMonitor: http://jellyfin.lan:8096/health
//!     - Downloads:            # a nested group: flattened as "Media / Downloads"
//!         - Sonarr: { href: http://sonarr.lan }
//! ```

use serde_json::Value;

use super::{Imported, text_of, tile, yaml};
use crate::model::{Check, CheckKind};

/// Fields Homepage services carry that Homewatch does not take, and why.
const NOT_MAPPED: [(&str, &str); 9] = [
    (
        "ping",
        "Homepage's ping is a latency dot; add a ping check to the tile if you want one",
    ),
    ("widget", "service widgets are not part of Homewatch"),
    ("widgets", "service widgets are not part of Homewatch"),
    (
        "server",
        "Docker status comes from the Docker API, which Homewatch does not read",
    ),
    (
        "container",
        "Docker status comes from the Docker API, which Homewatch does not read",
    ),
    ("showStats", "Docker stats are not part of Homewatch"),
    ("statusStyle", "Homewatch shows state its own way"),
    ("target", "Homewatch tiles open in a new tab"),
    ("app", "Kubernetes discovery is not part of Homewatch"),
];

pub fn read(text: &str, file: &str) -> Result<Imported, String> {
    let value = yaml(text, file)?;
    let Value::Array(groups) = value else {
        return Err(format!(
            "{file} is not Homepage's services.yaml: it should be a list of groups (`- Group name:` followed by its services)"
        ));
    };
    let mut imported = Imported::new();
    for entry in &groups {
        match single(entry) {
            Some((name, Value::Array(items))) => group(&mut imported, name, items),
            Some((name, _)) => imported.skip(name, "group", "has no list of services"),
            None => imported.skip("(top level)", "entry", "is not `Group name: [services]`"),
        }
    }
    Ok(imported)
}

/// The one key and value of a `- Name: value` list item.
fn single(entry: &Value) -> Option<(&str, &Value)> {
    let map = entry.as_object()?;
    if map.len() != 1 {
        return None;
    }
    map.iter().next().map(|(k, v)| (k.as_str(), v))
}

fn group(imported: &mut Imported, name: &str, items: &[Value]) {
    for item in items {
        match single(item) {
            // A nested group: its services go to "Parent / Child".
            Some((child, Value::Array(nested))) => group(imported, &format!("{name} / {child}"), nested),
            Some((service, Value::Object(fields))) => self::service(imported, name, service, fields),
            Some((service, Value::Null)) => {
                imported.skip(format!("{name} / {service}"), "service", "has no fields")
            }
            _ => imported.skip(
                name,
                "entry",
                "is neither a service (`- Name: {href: ...}`) nor a nested group",
            ),
        }
    }
}

/// Homepage icons are dashboard-icons file names (`jellyfin.png`), `mdi-`/`si-` names, or URLs.
fn icon(text: &str) -> String {
    if text.starts_with("http://") || text.starts_with("https://") {
        return text.to_owned();
    }
    for extension in [".png", ".svg", ".webp"] {
        if let Some(stem) = text.strip_suffix(extension) {
            return stem.to_owned();
        }
    }
    text.to_owned()
}

fn service(imported: &mut Imported, group: &str, name: &str, fields: &serde_json::Map<String, Value>) {
    let item = format!("{group} / {name}");
    let href = text_of(fields.get("href"));
    let monitor = text_of(fields.get("siteMonitor"));
    let Some(url) = href.clone().or_else(|| monitor.clone()) else {
        imported.skip(
            item,
            "service",
            "has neither href nor siteMonitor; a Homewatch tile needs a URL",
        );
        return;
    };
    let mut spec = tile(name, &url);
    spec.description = text_of(fields.get("description")).unwrap_or_default();
    spec.icon = text_of(fields.get("icon")).map(|text| icon(&text));
    if let Some(monitor) = monitor {
        let mut check = Check::bare(CheckKind::Http);
        if href.as_deref() != Some(monitor.as_str()) {
            check.target = Some(monitor);
        }
        spec.check = Some(check);
    }
    for (field, why) in NOT_MAPPED {
        if fields.contains_key(field) {
            imported.skip(&item, field, why);
        }
    }
    for field in fields.keys() {
        let known = ["href", "siteMonitor", "description", "icon"].contains(&field.as_str())
            || NOT_MAPPED.iter().any(|(name, _)| name == field);
        if !known {
            imported.skip(&item, field, "not a field Homewatch knows");
        }
    }
    imported.add(group, spec);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icons_lose_their_file_extension() {
        assert_eq!(icon("jellyfin.png"), "jellyfin");
        assert_eq!(icon("mdi-home"), "mdi-home");
        assert_eq!(icon("https://x.lan/a.png"), "https://x.lan/a.png");
    }
}
