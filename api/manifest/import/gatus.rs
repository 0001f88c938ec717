//! Gatus `config.yaml`: its `endpoints`, each with a group, name, url (http(s)://, tcp://, tls://, icmp://, or
//! a DNS server with `dns:`), method, headers, interval, conditions, client settings and `enabled`.
//! Conditions that have a Homewatch equivalent become check fields; the rest are reported.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{Imported, host_url, interval_within, text_of, tile, yaml};
use crate::model::{
    Check, CheckKind,
    check::{JsonCondition, JsonOp},
};

/// Endpoints without a group land here.
const DEFAULT_GROUP: &str = "Gatus";

pub fn read(text: &str, file: &str) -> Result<Imported, String> {
    let value = yaml(text, file)?;
    let Some(endpoints) = value.get("endpoints").and_then(Value::as_array) else {
        return Err(format!(
            "{file} has no `endpoints:` list; is it Gatus' config.yaml?"
        ));
    };
    let mut imported = Imported::new();
    for endpoint in endpoints {
        match endpoint.as_object() {
            Some(fields) => self::endpoint(&mut imported, fields),
            None => imported.skip("(endpoints)", "entry", "is not a mapping"),
        }
    }
    for section in ["external-endpoints", "alerting", "suites"] {
        if value.get(section).is_some() {
            imported.skip(
                "(config)",
                section,
                "not imported: set up channels in Homewatch (their credentials are not copied)",
            );
        }
    }
    Ok(imported)
}

/// `30s`, `5m`, `1h`, `1h30m` as seconds.
fn duration(text: &str) -> Option<u64> {
    let mut total = 0_u64;
    let mut number = String::new();
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                0.001
            }
            ('h', _) => 3600.0,
            ('m', _) => 60.0,
            ('s', _) => 1.0,
            _ => return None,
        };
        let value: f64 = number.parse().ok()?;
        total += (value * unit).round() as u64;
        number.clear();
    }
    number.is_empty().then_some(total)
}

fn endpoint(imported: &mut Imported, fields: &Map<String, Value>) {
    let group = text_of(fields.get("group")).unwrap_or_else(|| DEFAULT_GROUP.to_owned());
    let Some(name) = text_of(fields.get("name")) else {
        imported.skip(&group, "endpoint", "has no name");
        return;
    };
    let item = format!("{group} / {name}");
    let Some(url) = text_of(fields.get("url")) else {
        imported.skip(item, "endpoint", "has no url");
        return;
    };
    let (mut spec, mut check) = if let Some(dns) = fields.get("dns") {
        let query = text_of(dns.get("query-name")).unwrap_or_default();
        let mut check = Check::bare(CheckKind::Dns);
        check.target = Some(query.clone());
        check.record_type = text_of(dns.get("query-type")).map(|t| t.to_uppercase());
        if !url.is_empty() {
            imported.skip(
                &item,
                "url (DNS server)",
                format!("Homewatch asks the system's resolver, not {url}"),
            );
        }
        (tile(&name, &host_url(&query)), check)
    } else if let Some(rest) = url.strip_prefix("tcp://") {
        let mut check = Check::bare(CheckKind::Tcp);
        check.target = Some(rest.to_owned());
        let host = rest.rsplit_once(':').map_or(rest, |(host, _)| host);
        (tile(&name, &host_url(host)), check)
    } else if let Some(rest) = url.strip_prefix("tls://") {
        let mut check = Check::bare(CheckKind::Tls);
        check.target = Some(rest.to_owned());
        let host = rest.rsplit_once(':').map_or(rest, |(host, _)| host);
        (tile(&name, &format!("https://{host}")), check)
    } else if let Some(rest) = url.strip_prefix("icmp://") {
        let mut check = Check::bare(CheckKind::Ping);
        check.target = Some(rest.to_owned());
        (tile(&name, &host_url(rest)), check)
    } else if url.starts_with("http://") || url.starts_with("https://") {
        (tile(&name, &url), Check::bare(CheckKind::Http))
    } else {
        imported.skip(
            item,
            "endpoint",
            format!("the url `{url}` is of a kind Homewatch does not check (http, https, tcp, tls, icmp and dns are)"),
        );
        return;
    };
    let http = check.kind == CheckKind::Http;
    if let Some(interval) = text_of(fields.get("interval")) {
        match duration(&interval) {
            Some(seconds) => check.interval_s = Some(interval_within(seconds, &item, imported)),
            None => imported.skip(&item, "interval", format!("`{interval}` is not a duration")),
        }
    }
    if let Some(method) = text_of(fields.get("method")) {
        match http {
            true => check.method = Some(method.to_uppercase()),
            false => imported.skip(&item, "method", "only http checks send a method"),
        }
    }
    if let Some(headers) = fields.get("headers").and_then(Value::as_object) {
        let headers: BTreeMap<String, String> = headers
            .iter()
            .filter_map(|(k, v)| text_of(Some(v)).map(|v| (k.clone(), v)))
            .collect();
        if http && !headers.is_empty() {
            check.headers = Some(headers);
        }
    }
    if fields.get("body").is_some() {
        imported.skip(&item, "body", "Homewatch's http check sends no request body");
    }
    if let Some(client) = fields.get("client").and_then(Value::as_object) {
        for (key, value) in client {
            match key.as_str() {
                "insecure" if http || check.kind == CheckKind::Tls => {
                    if value.as_bool() == Some(true) {
                        check.verify_tls = Some(false);
                    }
                }
                "timeout" => match text_of(Some(value)).as_deref().and_then(duration) {
                    Some(seconds) => check.timeout_s = Some(seconds.clamp(1, 120) as u32),
                    None => imported.skip(&item, "client.timeout", "is not a duration"),
                },
                other => imported.skip(&item, format!("client.{other}"), "no Homewatch equivalent"),
            }
        }
    }
    if fields.get("enabled").and_then(Value::as_bool) == Some(false) {
        spec.paused = true;
    }
    let mut statuses = Vec::new();
    let mut json = Vec::new();
    for condition in fields
        .get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| text_of(Some(c)))
    {
        match self::condition(&condition, check.kind) {
            Mapped::Status(range) => statuses.push(range),
            Mapped::Keyword(text) => {
                check.kind = CheckKind::Keyword;
                check.keyword = Some(text);
            }
            Mapped::Json(cond) => json.push(cond),
            Mapped::Slow(ms) => {
                check.degraded_above_ms = Some(ms);
                imported.skip(
                    &item,
                    format!("condition `{condition}`"),
                    format!("a slower answer is `degraded` in Homewatch (above {ms} ms), not down"),
                );
            }
            Mapped::CertDays(days) => check.cert_warn_days = Some(days),
            Mapped::Implied => {}
            Mapped::No(why) => imported.skip(&item, format!("condition `{condition}`"), why),
        }
    }
    if !statuses.is_empty() && matches!(check.kind, CheckKind::Http | CheckKind::Keyword) {
        check.expected_status = Some(statuses.join(","));
    }
    if !json.is_empty() {
        if check.kind == CheckKind::Http {
            check.json = Some(json);
        } else {
            imported.skip(
                &item,
                "conditions on [BODY] fields",
                "a keyword check cannot also test JSON fields",
            );
        }
    }
    for key in fields.keys() {
        let known = [
            "name",
            "group",
            "url",
            "dns",
            "interval",
            "method",
            "headers",
            "body",
            "client",
            "enabled",
            "conditions",
        ]
        .contains(&key.as_str());
        if key == "alerts" {
            imported.skip(&item, "alerts", "give the tile a Homewatch channel instead");
        } else if !known {
            imported.skip(&item, key, "no Homewatch equivalent");
        }
    }
    spec.check = Some(check);
    imported.add(&group, spec);
}

enum Mapped {
    Status(String),
    Keyword(String),
    Json(JsonCondition),
    Slow(u32),
    CertDays(u32),
    Implied,
    No(String),
}

fn condition(text: &str, kind: CheckKind) -> Mapped {
    let Some((left, op, right)) = ["==", "!=", "<=", ">=", "<", ">"]
        .iter()
        .find_map(|op| text.split_once(op).map(|(l, r)| (l.trim(), *op, r.trim())))
    else {
        return Mapped::No("not a comparison Homewatch reads".into());
    };
    let status = |op: &str, right: &str| -> Option<String> {
        if let Some(list) = right.strip_prefix("any(").and_then(|r| r.strip_suffix(')')) {
            return (op == "==").then(|| list.split(',').map(str::trim).collect::<Vec<_>>().join(","));
        }
        let code: u16 = right.parse().ok()?;
        match op {
            "==" => Some(code.to_string()),
            "<" => Some(format!("100-{}", code.checked_sub(1)?)),
            "<=" => Some(format!("100-{code}")),
            ">" => Some(format!("{}-599", code + 1)),
            ">=" => Some(format!("{code}-599")),
            _ => None,
        }
    };
    match left {
        "[STATUS]" => match status(op, right) {
            Some(range) => Mapped::Status(range),
            None => Mapped::No(format!("`{op} {right}` on the status has no Homewatch form")),
        },
        "[CONNECTED]" if right == "true" => Mapped::Implied,
        "[DNS_RCODE]" if right == "NOERROR" => Mapped::Implied,
        "[RESPONSE_TIME]" if op == "<" || op == "<=" => match right.parse::<u32>() {
            Ok(ms) => Mapped::Slow(ms),
            Err(_) => Mapped::No("the response time is not a number of milliseconds".into()),
        },
        "[CERTIFICATE_EXPIRATION]" if op == ">" || op == ">=" => match duration(right) {
            Some(seconds) => Mapped::CertDays(seconds.div_ceil(86_400).min(365) as u32),
            None => Mapped::No("the expiration is not a duration".into()),
        },
        "[BODY]" if op == "==" => {
            if let Some(pattern) = right.strip_prefix("pat(").and_then(|r| r.strip_suffix(')')) {
                let text = pattern.trim_matches('*');
                if !text.contains('*') && !text.is_empty() && kind == CheckKind::Http {
                    return Mapped::Keyword(text.to_owned());
                }
                return Mapped::No("only `pat(*text*)` maps (to a keyword check)".into());
            }
            if kind == CheckKind::Dns {
                return Mapped::No("set `expected` on the dns check by hand (one answer to match)".into());
            }
            Mapped::No("a whole-body match has no Homewatch form; use `pat(*text*)`".into())
        }
        body if body.starts_with("[BODY].") => {
            let path = format!("$.{}", &body[7..]);
            let op = match op {
                "==" => JsonOp::Eq,
                "!=" => JsonOp::Ne,
                "<" => JsonOp::Lt,
                "<=" => JsonOp::Le,
                ">" => JsonOp::Gt,
                _ => JsonOp::Ge,
            };
            let value = match right.parse::<f64>() {
                Ok(_) => serde_json::from_str(right).unwrap_or(Value::String(right.to_owned())),
                Err(_) if right == "true" || right == "false" => Value::Bool(right == "true"),
                Err(_) => Value::String(right.to_owned()),
            };
            Mapped::Json(JsonCondition {
                path,
                op,
                value: Some(value),
            })
        }
        _ => Mapped::No("no Homewatch equivalent".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_go() {
        assert_eq!(duration("30s"), Some(30));
        assert_eq!(duration("5m"), Some(300));
        assert_eq!(duration("1h30m"), Some(5400));
        assert_eq!(duration("500ms"), Some(1));
        assert_eq!(duration("soon"), None);
    }
}
