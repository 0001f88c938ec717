//! Badges in the shields.io look: `/badge/{id}/status.svg`, `/badge/{id}/uptime.svg?window=30d`,
//! `/badge/{id}/latency.svg?window=24h`, and the same as shields.io "endpoint" JSON (`.json`), for
//! `https://img.shields.io/endpoint?url=...`. Only for tiles whose badges are public (switched on for the
//! tile, or shown on a published status page); any other id is 404, as an unknown one is. Answers may be
//! cached for 60 s; uptime and latency come from the hourly rollups.

use std::{fmt::Write as _, sync::Arc};

use http::StatusCode;
use poem::{Endpoint, Request, Response};

use super::{PublicFaces, cached, html::escape, html::percent, not_found, unavailable};
use crate::{
    model::{ServiceState, now},
    monitor::stats::{Window, window_hours},
    store::StoreError,
};

const NO_BADGE: &str = "there is no public badge here: badges are shown for tiles on a published status page, \
                        or with `badges` switched on for the tile";
const LABEL_MAX_CHARS: usize = 64;

/// What a badge says.
#[derive(Debug, Clone, PartialEq)]
pub struct Badge {
    pub label: String,
    pub message: String,
    pub color: &'static str,
}

const GREEN: &str = "#4c1";
const YELLOW_GREEN: &str = "#97ca00";
const YELLOW: &str = "#dfb317";
const ORANGE: &str = "#fe7d37";
const RED: &str = "#e05d44";
const BLUE: &str = "#007ec6";
const GREY: &str = "#9f9f9f";

fn state_badge(state: ServiceState) -> (&'static str, &'static str) {
    match state {
        ServiceState::Up => ("up", GREEN),
        ServiceState::Down => ("down", RED),
        ServiceState::Degraded => ("degraded", YELLOW),
        ServiceState::Pending => ("pending", ORANGE),
        ServiceState::Maintenance => ("maintenance", BLUE),
        ServiceState::Paused => ("paused", GREY),
        ServiceState::Unknown => ("unknown", GREY),
    }
}

fn uptime_color(pct: f64) -> &'static str {
    match pct {
        p if p >= 99.9 => GREEN,
        p if p >= 99.0 => YELLOW_GREEN,
        p if p >= 95.0 => YELLOW,
        p if p >= 90.0 => ORANGE,
        _ => RED,
    }
}

fn latency_color(ms: f64) -> &'static str {
    match ms {
        m if m < 200.0 => GREEN,
        m if m < 500.0 => YELLOW_GREEN,
        m if m < 1000.0 => YELLOW,
        m if m < 2000.0 => ORANGE,
        _ => RED,
    }
}

/// The width of text in Verdana 11px, close to what shields.io measures.
fn text_width(text: &str) -> f64 {
    text.chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' => 3.8,
            ' ' | 'f' | 't' | 'r' | 'I' | '(' | ')' | '[' | ']' | '-' => 4.9,
            'm' | 'w' | 'M' | 'W' | '%' => 10.5,
            'A'..='Z' => 7.9,
            '0'..='9' => 7.0,
            c if c.is_ascii() => 6.6,
            _ => 11.0,
        })
        .sum()
}

/// The flat shields.io badge.
pub fn svg(badge: &Badge) -> String {
    let label_w = (text_width(&badge.label) + 10.0).round();
    let message_w = (text_width(&badge.message) + 10.0).round();
    let width = label_w + message_w;
    let (label, message) = (escape(&badge.label), escape(&badge.message));
    let mut out = String::with_capacity(1200);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"20\" role=\"img\" \
         aria-label=\"{label}: {message}\"><title>{label}: {message}</title>\
         <linearGradient id=\"s\" x2=\"0\" y2=\"100%\"><stop offset=\"0\" stop-color=\"#bbb\" stop-opacity=\".1\"/>\
         <stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>\
         <clipPath id=\"r\"><rect width=\"{width}\" height=\"20\" rx=\"3\" fill=\"#fff\"/></clipPath>\
         <g clip-path=\"url(#r)\"><rect width=\"{label_w}\" height=\"20\" fill=\"#555\"/>\
         <rect x=\"{label_w}\" width=\"{message_w}\" height=\"20\" fill=\"{color}\"/>\
         <rect width=\"{width}\" height=\"20\" fill=\"url(#s)\"/></g>\
         <g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" \
         text-rendering=\"geometricPrecision\" font-size=\"110\">\
         <text aria-hidden=\"true\" x=\"{lx}\" y=\"150\" fill=\"#010101\" fill-opacity=\".3\" transform=\"scale(.1)\">{label}</text>\
         <text x=\"{lx}\" y=\"140\" transform=\"scale(.1)\">{label}</text>\
         <text aria-hidden=\"true\" x=\"{mx}\" y=\"150\" fill=\"#010101\" fill-opacity=\".3\" transform=\"scale(.1)\">{message}</text>\
         <text x=\"{mx}\" y=\"140\" transform=\"scale(.1)\">{message}</text></g></svg>",
        color = badge.color,
        lx = label_w * 5.0,
        mx = (label_w + message_w / 2.0) * 10.0,
    );
    out
}

/// The shields.io endpoint JSON (colours by their shields.io names).
pub fn endpoint_json(badge: &Badge) -> String {
    let color = match badge.color {
        GREEN => "brightgreen",
        YELLOW_GREEN => "green",
        YELLOW => "yellow",
        ORANGE => "orange",
        RED => "red",
        BLUE => "blue",
        _ => "lightgrey",
    };
    serde_json::json!({
        "schemaVersion": 1,
        "label": badge.label,
        "message": badge.message,
        "color": color,
    })
    .to_string()
}

fn query_value(request: &Request, name: &str) -> Option<String> {
    request.uri().query().and_then(|query| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    })
}

fn bad_request(detail: String) -> Response {
    crate::http::problem::Problem::new(StatusCode::BAD_REQUEST, detail).into_response_with_status()
}

fn window(request: &Request, default: Window) -> Result<(Window, String), Box<Response>> {
    let text = query_value(request, "window").unwrap_or_default();
    let window = match text.as_str() {
        "" => default,
        "24h" => Window::Day,
        "7d" => Window::Week,
        "30d" => Window::Month,
        "90d" => Window::Quarter,
        "365d" => Window::Year,
        other => {
            return Err(Box::new(bad_request(format!(
                "window `{}` is not one of 24h, 7d, 30d, 90d, 365d",
                other.chars().take(20).collect::<String>()
            ))));
        }
    };
    let name = match window {
        Window::Day => "24h",
        Window::Week => "7d",
        Window::Month => "30d",
        Window::Quarter => "90d",
        Window::Year => "365d",
    };
    Ok((window, name.to_owned()))
}

/// `/badge/{id}/{kind}.{svg|json}`.
pub struct Badges(pub Arc<PublicFaces>);

impl Endpoint for Badges {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        if let Some(refused) = super::read_only(&request) {
            return Ok(refused);
        }
        let path = request.uri().path().to_owned();
        let Some((id, file)) = path
            .strip_prefix("/badge/")
            .and_then(|rest| rest.split_once('/'))
            .and_then(|(id, file)| Some((id.parse::<i64>().ok()?, file)))
        else {
            return Ok(not_found(NO_BADGE));
        };
        let Some((kind, format)) = file.rsplit_once('.') else {
            return Ok(not_found(NO_BADGE));
        };
        if !matches!(format, "svg" | "json") || !matches!(kind, "status" | "uptime" | "latency") {
            return Ok(not_found(
                "badges are status, uptime and latency, as .svg or .json (shields.io endpoint)",
            ));
        }
        let faces = &self.0;
        let mut service = match faces.store.get_service(id).await {
            Ok(service) => service,
            Err(StoreError::NotFound { .. }) => return Ok(not_found(NO_BADGE)),
            Err(err) => return Ok(unavailable(&err)),
        };
        match faces.badge_public(&service).await {
            Ok(true) => {}
            Ok(false) => return Ok(not_found(NO_BADGE)),
            Err(err) => return Ok(unavailable(&err)),
        }
        let label = query_value(&request, "label").map(|label| {
            label
                .chars()
                .filter(|c| !c.is_control())
                .take(LABEL_MAX_CHARS)
                .collect()
        });
        let badge = match kind {
            "status" => {
                faces.engine.freshen(&mut service);
                let (message, color) = state_badge(service.status.state);
                Badge {
                    label: label.unwrap_or_else(|| service.name.clone()),
                    message: message.into(),
                    color,
                }
            }
            _ => {
                let default = if kind == "uptime" {
                    Window::Month
                } else {
                    Window::Day
                };
                let (window, name) = match window(&request, default) {
                    Ok(found) => found,
                    Err(response) => return Ok(*response),
                };
                let (from, to) = window_hours(window, now());
                let total = match faces.store.rollup_total(id, from, to).await {
                    Ok(total) => total,
                    Err(err) => return Ok(unavailable(&err)),
                };
                let label = label.unwrap_or_else(|| format!("{kind} {name}"));
                if kind == "uptime" {
                    match total.uptime_percent() {
                        Some(pct) => Badge {
                            label,
                            message: percent(pct),
                            color: uptime_color(pct),
                        },
                        None => Badge {
                            label,
                            message: "no data".into(),
                            color: GREY,
                        },
                    }
                } else {
                    match total.avg_latency_ms() {
                        Some(ms) => Badge {
                            label,
                            message: format!("{} ms", ms.round()),
                            color: latency_color(ms),
                        },
                        None => Badge {
                            label,
                            message: "no data".into(),
                            color: GREY,
                        },
                    }
                }
            }
        };
        let (body, content_type) = match format {
            "svg" => (svg(&badge), "image/svg+xml; charset=utf-8"),
            _ => (endpoint_json(&badge), "application/json; charset=utf-8"),
        };
        Ok(cached(
            &request,
            body.into_bytes(),
            content_type,
            "public, max-age=60",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_badge_is_svg_with_its_words() {
        let badge = Badge {
            label: "uptime 30d".into(),
            message: "99.5%".into(),
            color: uptime_color(99.5),
        };
        let svg = svg(&badge);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains(">uptime 30d</text>") && svg.contains(">99.5%</text>"));
        assert!(svg.contains(YELLOW_GREEN));
        assert_eq!(
            endpoint_json(&badge),
            r#"{"schemaVersion":1,"label":"uptime 30d","message":"99.5%","color":"green"}"#
        );
    }
}
