//! The scheduler on tokio's paused clock: exact intervals, retries before down, rescheduling on edit, and
//! no more checks once a tile is paused or deleted. The probe is scripted here (the real probes have their
//! own tests against local targets); the store is a real SQLite file.

mod common;

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{Backend, TestDb};
use homewatch::{
    model::{Check, NewGroup, NewService, ServicePatch, ServiceState},
    monitor::{
        engine::{Engine, EngineConfig, EngineEvent, Probe},
        probe::ProbeOutcome,
    },
    store::Store,
};
use poem_openapi::types::MaybeUndefined;
use tokio::time::Instant;

/// Answers from a script (then `ok`), and notes when each run started.
#[derive(Default)]
struct Scripted {
    outcomes: Mutex<VecDeque<bool>>,
    runs: Mutex<Vec<Instant>>,
}

impl Probe for Scripted {
    fn run<'a>(
        &'a self,
        _check: &'a Check,
        _url: &'a str,
    ) -> Pin<Box<dyn Future<Output = ProbeOutcome> + Send + 'a>> {
        Box::pin(async move {
            self.runs.lock().unwrap().push(Instant::now());
            let ok = self.outcomes.lock().unwrap().pop_front().unwrap_or(true);
            ProbeOutcome {
                ok,
                latency_ms: 7,
                status_code: None,
                error: (!ok).then(|| "scripted failure".to_owned()),
                ..ProbeOutcome::default()
            }
        })
    }
}

fn check(interval_s: u32, retries: u32) -> Check {
    common::check(serde_json::json!({ "kind": "tcp", "interval_s": interval_s, "retries": retries }))
}

async fn setup(
    interval_s: u32,
    retries: u32,
    script: &[bool],
) -> (TestDb, Arc<dyn Store>, i64, Arc<Scripted>, Engine) {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.open().await;
    let group = store
        .create_group(&NewGroup { name: "G".into() })
        .await
        .unwrap()
        .id;
    let tile = store
        .create_service(&NewService {
            badges: None,
            group_id: group,
            name: "NAS".into(),
            url: "https://nas.lan".into(),
            description: None,
            icon: None,
            tags: None,
            check: Some(check(interval_s, retries)),
        })
        .await
        .unwrap()
        .id;
    let probe = Arc::new(Scripted {
        outcomes: Mutex::new(script.iter().copied().collect()),
        ..Default::default()
    });
    // No history writes during the tests: on tokio's paused clock, time jumps past sqlx's pool timeouts while
    // SQLite answers on its own thread. These tests read events and probe runs, not history.
    let quiet = EngineConfig {
        flush_interval: Duration::from_secs(86_400),
        ..EngineConfig::default()
    };
    let engine = Engine::start(store.clone(), probe.clone(), quiet).await.unwrap();
    (db, store, tile, probe, engine)
}

/// Lets the paused clock run for `seconds`, in small steps so every task gets its turn.
async fn run_for(seconds: u64) {
    for _ in 0..seconds * 10 {
        tokio::time::advance(Duration::from_millis(100)).await;
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
    }
}

fn gaps(runs: &[Instant]) -> Vec<u64> {
    runs.windows(2)
        .map(|pair| (pair[1] - pair[0]).as_secs())
        .collect()
}

#[tokio::test]
async fn checks_run_every_interval_and_retries_come_before_down() {
    let (_db, _store, tile, probe, engine) = setup(10, 1, &[true, false, false, true]).await;
    let mut events = engine.subscribe();
    // The engine reads its tiles from SQLite, which answers on its own thread in real time: on a loaded
    // machine that took longer than the paused clock's first steps, and runs went missing. So the first run
    // is awaited on the real clock, and the paused clock takes over from there.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while probe.runs.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the first check never ran");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::pause();
    run_for(45).await;

    let runs = probe.runs.lock().unwrap().clone();
    assert!(runs.len() >= 4, "{} runs in 45 s", runs.len());
    // From the second run on, all on the paused clock.
    assert!(
        gaps(&runs[1..]).iter().all(|gap| *gap == 10),
        "every 10 s: {:?}",
        gaps(&runs)
    );

    let mut states = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let EngineEvent::StateChanged {
            service_id, state, ..
        } = event
        {
            assert_eq!(service_id, tile);
            states.push(state);
        }
    }
    assert_eq!(
        states,
        [
            ServiceState::Up,
            ServiceState::Pending,
            ServiceState::Down,
            ServiceState::Up
        ]
    );
    engine.stop().await;
}

/// On the real clock: this test changes the store while the engine runs (see the note on `setup`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_reschedules_at_once_and_pause_or_delete_stop_checks() {
    let (_db, store, tile, probe, engine) = setup(3600, 2, &[]).await;
    let runs = |probe: &Scripted| probe.runs.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = runs(&probe);

    // Every second: below the API's 5 s minimum, which is a rule for people, not for the engine.
    let faster = Check {
        interval_s: Some(1),
        timeout_s: Some(1),
        ..check(5, 2)
    };
    store
        .update_service(
            tile,
            &ServicePatch {
                check: MaybeUndefined::Value(faster),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    engine.reload(tile);
    let edited_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let after_edit: Vec<Instant> = probe
        .runs
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|run| *run >= edited_at)
        .collect();
    assert!(
        after_edit.len() >= 3,
        "runs every second after the edit: {} runs (before: {before})",
        after_edit.len()
    );
    assert!(
        after_edit[0] - edited_at < Duration::from_millis(1500),
        "the edited check runs at once"
    );

    store.set_paused(tile, true).await.unwrap();
    engine.reload(tile);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let paused = runs(&probe);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(runs(&probe), paused, "no checks while paused");

    store.set_paused(tile, false).await.unwrap();
    engine.reload(tile);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(runs(&probe) > paused, "resumed checks run again");

    store.delete_service(tile).await.unwrap();
    engine.reload(tile);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let deleted = runs(&probe);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(runs(&probe), deleted, "no checks after delete");
    engine.stop().await;
}
