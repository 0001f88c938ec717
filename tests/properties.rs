//! Property tests for the parsers people type into: whatever the input, they answer (never panic), what they
//! accept reads back the same, and every string the published patterns allow is one the server accepts.

use homewatch::{
    config::parse_duration,
    model::{Check, check::StatusRanges, cursor, patterns},
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, max_global_rejects: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn durations_never_panic_and_shown_ones_read_back(text in ".{0,40}", seconds in 0u64..315_360_000) {
        let _ = parse_duration(&text);
        let shown = homewatch::config::Span(std::time::Duration::from_secs(seconds)).to_string();
        prop_assert_eq!(parse_duration(&shown), Ok(std::time::Duration::from_secs(seconds)));
    }

    #[test]
    fn numbers_with_any_unit_never_panic(number in any::<f64>(), unit in "(ms|s|m|h|d|)") {
        let _ = parse_duration(&format!("{number}{unit}"));
    }

    #[test]
    fn status_ranges_answer_anything_and_accept_their_pattern(
        text in ".{0,60}",
        valid in shaped(patterns::STATUS_RANGES),
    ) {
        let _ = StatusRanges::parse(&text);
        prop_assert!(StatusRanges::parse(&valid).is_ok(), "{:?}", valid);
    }

    #[test]
    fn every_url_the_pattern_allows_is_accepted(url in shaped(patterns::HTTP_URL)) {
        prop_assume!(url.chars().count() <= 2048);
        let mut errors = Vec::new();
        homewatch::model::check_url("url", url.clone(), &mut errors);
        prop_assert!(errors.is_empty(), "{:?}: {:?}", url, errors);
    }

    #[test]
    fn names_of_their_pattern_are_accepted(name in shaped(patterns::NAME)) {
        // The length is a rule of its own (at most 100 characters).
        let name: String = name.chars().take(100).collect();
        prop_assume!(patterns::is_name(&name));
        let mut errors = Vec::new();
        let stored = homewatch::model::check_name("name", name.clone(), &mut errors);
        prop_assert!(errors.is_empty(), "{:?}: {:?}", name, errors);
        prop_assert!(!stored.is_empty());
    }

    #[test]
    fn cursors_are_read_exactly_when_they_have_the_published_shape(text in "(v1\\.)?[0-9a-fA-F+]{0,20}", id in any::<i64>()) {
        let shaped = regex::Regex::new(cursor::PATTERN).unwrap().is_match(&text);
        prop_assert_eq!(cursor::decode(&text).is_some(), shaped, "{}", text);
        prop_assert_eq!(cursor::decode(&cursor::encode(id)), Some(id));
    }

    #[test]
    fn any_json_as_a_check_is_answered_without_a_panic(json in arbitrary_json(), url in prop::option::of(shaped(patterns::HTTP_URL))) {
        let _ = Check::from_json(json, url.as_deref());
    }
}

/// Strings of a published pattern (whose anchors the generator does without: the whole string matches).
fn shaped(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
    let body = pattern
        .strip_prefix('^')
        .and_then(|p| p.strip_suffix('$'))
        .expect("an anchored pattern");
    proptest::string::string_regex(body).expect("a pattern proptest can generate from")
}

/// JSON values shaped like checks: an object with some of a check's fields, of any type.
fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        ".{0,20}".prop_map(serde_json::Value::from),
        prop_oneof![Just("http"), Just("keyword"), Just("tcp"), Just("dns")]
            .prop_map(serde_json::Value::from),
    ];
    let field = prop_oneof![
        Just("kind"),
        Just("target"),
        Just("interval_s"),
        Just("timeout_s"),
        Just("retries"),
        Just("method"),
        Just("expected_status"),
        Just("headers"),
        Just("keyword"),
        Just("record_type"),
        Just("expected"),
        Just("follow_redirects"),
        Just("verify_tls"),
        Just("keyword_absent"),
    ];
    prop::collection::btree_map(field, leaf, 0..8)
        .prop_map(|map| serde_json::Value::Object(map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}
