//! A real headless Chromium driven over the DevTools protocol (chromiumoxide), with the few things the
//! page tests need: wait for a condition, click and type like a person, drag, press keys, screenshots.
//! Chromium is found at HOMEWATCH_TEST_CHROMIUM, else `chromium` / `google-chrome` on the PATH. Without one a
//! page test says on the terminal that it did not run and how to get a browser, and passes — unless
//! HOMEWATCH_REQUIRE_BROWSER is set (CI sets it), when it fails.

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chromiumoxide::{
    browser::{Browser as CdpBrowser, BrowserConfig},
    cdp::browser_protocol::{
        emulation::{
            MediaFeature, SetDeviceMetricsOverrideParams, SetEmulatedMediaParams, SetLocaleOverrideParams,
            SetScriptExecutionDisabledParams, SetTimezoneOverrideParams,
        },
        input::{DispatchMouseEventParams, DispatchMouseEventType, InsertTextParams, MouseButton},
        network::{CookieParam, SetCacheDisabledParams},
    },
    cdp::js_protocol::runtime::{ConsoleApiCalledType, EventConsoleApiCalled, EventExceptionThrown},
    page::ScreenshotParams,
};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub const CHROMIUM_VAR: &str = "HOMEWATCH_TEST_CHROMIUM";
/// Set (to anything but `0`) to make a missing browser a failure rather than a skipped page test.
pub const REQUIRE_VAR: &str = "HOMEWATCH_REQUIRE_BROWSER";
const WAIT: Duration = Duration::from_secs(20);
/// Longest one DevTools command may take. chromiumoxide can wait for ever on a command whose answer never comes
/// (once in CI, a click on the sign-in form hung a test for minutes): reads and clicks are tried again, and
/// anything else fails with a message rather than hanging.
const COMMAND_WAIT: Duration = Duration::from_secs(10);

/// Where screenshots go: `target/e2e/`, kept as test artifacts.
pub fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target folder")
        .join("e2e");
    std::fs::create_dir_all(&dir).expect("create target/e2e");
    dir
}

fn find_chromium() -> Option<PathBuf> {
    if let Ok(path) = std::env::var(CHROMIUM_VAR) {
        return Some(PathBuf::from(path));
    }
    let candidates = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ];
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in candidates {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// The screen a page is shown on.
#[derive(Debug, Clone, Copy)]
pub struct Screen {
    pub width: u32,
    pub height: u32,
    pub mobile: bool,
    pub dark: bool,
}

impl Screen {
    pub const DESKTOP: Screen = Screen {
        width: 1280,
        height: 900,
        mobile: false,
        dark: false,
    };
    pub const PHONE: Screen = Screen {
        width: 390,
        height: 844,
        mobile: true,
        dark: false,
    };

    pub fn dark(self) -> Self {
        Self { dark: true, ..self }
    }
}

pub struct Browser {
    browser: CdpBrowser,
    events: tokio::task::JoinHandle<()>,
    /// Uncaught exceptions and console errors of every tab, as `url: message`.
    errors: Arc<Mutex<Vec<String>>>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A fresh headless Chromium; None when none is installed (see the module's doc).
    pub async fn launch() -> Option<Self> {
        let Some(executable) = find_chromium() else {
            let message = format!(
                "page test `{}` did NOT run: no Chromium on the PATH. Install it (Debian/Ubuntu: `apt-get install \
                 chromium`) or set {CHROMIUM_VAR} to a Chromium or Chrome binary",
                std::thread::current().name().unwrap_or("?")
            );
            if std::env::var_os(REQUIRE_VAR).is_some_and(|value| value != "0") {
                panic!("{message} ({REQUIRE_VAR} is set)");
            }
            // Straight to the terminal: libtest would swallow eprintln! of a passing test.
            let _ = writeln!(std::io::stderr(), "SKIPPED: {message}");
            return None;
        };
        Some(Self::launch_at(&executable).await)
    }

    async fn launch_at(executable: &Path) -> Self {
        let profile = tempfile::tempdir().expect("a profile folder");
        let config = BrowserConfig::builder()
            .chrome_executable(executable)
            .user_data_dir(profile.path())
            .no_sandbox()
            .viewport(None)
            .window_size(1280, 900)
            .args([
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--lang=en-GB",
            ])
            .launch_timeout(Duration::from_secs(30))
            .build()
            .expect("browser settings");
        let (browser, mut handler) = CdpBrowser::launch(config).await.unwrap_or_else(|err| {
            panic!(
                "cannot start {} ({err}); install Chromium (`apt-get install chromium`) or set {CHROMIUM_VAR}",
                executable.display()
            )
        });
        let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
        Self {
            browser,
            events,
            errors: Arc::default(),
            _profile: profile,
        }
    }

    /// A new tab showing `url` on `screen`, once its `load` event has fired.
    pub async fn open(&self, url: &str, screen: Screen) -> Page {
        let page = self.browser.new_page("about:blank").await.expect("open a tab");
        let page = Page {
            page,
            errors: self.errors.clone(),
            screen: Mutex::new(screen),
        };
        page.collect_errors().await;
        // The Content-Security-Policy must never have to block anything the page does.
        page.page
            .add_init_script(
                "document.addEventListener('securitypolicyviolation', (e) => \
                 console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`));",
            )
            .await
            .expect("watch for CSP violations");
        page.set_screen(screen).await;
        page.goto(url).await;
        page
    }

    /// Every tab's URL (tabs opened by the page included).
    pub async fn tab_urls(&self) -> Vec<String> {
        let mut urls = Vec::new();
        for page in self.browser.pages().await.expect("list tabs") {
            if let Ok(Some(url)) = page.url().await {
                urls.push(url);
            }
        }
        urls
    }

    /// Closes the browser; fails the test if any page threw an uncaught error or logged one.
    pub async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = self.browser.wait().await;
        self.events.abort();
        let errors = self.errors.lock().unwrap().clone();
        assert!(
            errors.is_empty(),
            "the page had JavaScript errors:\n{}",
            errors.join("\n")
        );
    }
}

pub struct Page {
    page: chromiumoxide::Page,
    errors: Arc<Mutex<Vec<String>>>,
    screen: Mutex<Screen>,
}

impl Page {
    async fn collect_errors(&self) {
        let mut exceptions = self
            .page
            .event_listener::<EventExceptionThrown>()
            .await
            .expect("listen for exceptions");
        let errors = self.errors.clone();
        tokio::spawn(async move {
            while let Some(event) = exceptions.next().await {
                let details = &event.exception_details;
                let description = details
                    .exception
                    .as_ref()
                    .and_then(|exception| exception.description.clone())
                    .unwrap_or_default();
                errors.lock().unwrap().push(format!(
                    "{}:{}: {} {description}",
                    details.url.clone().unwrap_or_default(),
                    details.line_number + 1,
                    details.text
                ));
            }
        });
        let mut console = self
            .page
            .event_listener::<EventConsoleApiCalled>()
            .await
            .expect("listen to the console");
        let errors = self.errors.clone();
        tokio::spawn(async move {
            while let Some(event) = console.next().await {
                if matches!(
                    event.r#type,
                    ConsoleApiCalledType::Error | ConsoleApiCalledType::Assert
                ) {
                    let text: Vec<String> = event
                        .args
                        .iter()
                        .map(|arg| {
                            arg.value
                                .as_ref()
                                .map(Value::to_string)
                                .or_else(|| arg.description.clone())
                                .unwrap_or_default()
                        })
                        .collect();
                    errors
                        .lock()
                        .unwrap()
                        .push(format!("console.error: {}", text.join(" ")));
                }
            }
        });
        self.page
            .enable_runtime()
            .await
            .expect("enable the runtime domain");
    }

    pub async fn close(self) {
        self.page.close().await.expect("close the tab");
    }

    /// A Chrome trace (the categories of DevTools' Performance panel) of what `during` makes the page do, as
    /// the trace's events (open them in Perfetto or DevTools wrapped as `{"traceEvents": [...]}`). For the page
    /// benchmark's `--trace`.
    #[allow(dead_code)] // The page tests do not trace.
    pub async fn trace<T>(&self, during: impl std::future::Future<Output = T>) -> (T, Vec<Value>) {
        use chromiumoxide::cdp::browser_protocol::tracing::{
            EndParams, EventDataCollected, EventTracingComplete, StartParams, StartTransferMode, TraceConfig,
        };
        let mut data = self
            .page
            .event_listener::<EventDataCollected>()
            .await
            .expect("listen for trace data");
        let mut complete = self
            .page
            .event_listener::<EventTracingComplete>()
            .await
            .expect("listen for the trace's end");
        let categories = [
            "devtools.timeline",
            "disabled-by-default-devtools.timeline",
            "blink",
            "v8.execute",
            "disabled-by-default-v8.gc",
        ];
        let config = TraceConfig {
            included_categories: Some(categories.iter().map(|c| c.to_string()).collect()),
            ..Default::default()
        };
        let start = StartParams {
            transfer_mode: Some(StartTransferMode::ReportEvents),
            trace_config: Some(config),
            ..Default::default()
        };
        self.page.execute(start).await.expect("start tracing");
        let result = during.await;
        let collect = tokio::spawn(async move {
            let mut events = Vec::new();
            loop {
                tokio::select! {
                    Some(batch) = data.next() => events.extend(batch.value.iter().cloned()),
                    _ = complete.next() => break,
                }
            }
            while let Ok(Some(batch)) = tokio::time::timeout(Duration::from_millis(200), data.next()).await {
                events.extend(batch.value.iter().cloned());
            }
            events
        });
        self.page
            .execute(EndParams::default())
            .await
            .expect("end tracing");
        (result, collect.await.expect("the trace's events"))
    }

    /// What went wrong in the page's JavaScript so far.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    pub async fn set_screen(&self, screen: Screen) {
        *self.screen.lock().unwrap() = screen;
        self.page
            .execute(SetDeviceMetricsOverrideParams::new(
                i64::from(screen.width),
                i64::from(screen.height),
                if screen.mobile { 3.0 } else { 1.0 },
                screen.mobile,
            ))
            .await
            .expect("set the screen size");
        self.page
            .execute(
                SetEmulatedMediaParams::builder()
                    .features(vec![MediaFeature::new(
                        "prefers-color-scheme",
                        if screen.dark { "dark" } else { "light" },
                    )])
                    .build(),
            )
            .await
            .expect("set the colour scheme");
    }

    /// Shows times as a viewer in this IANA time zone would see them (e.g. `Asia/Kathmandu`).
    pub async fn emulate_time_zone(&self, zone: &str) {
        self.page
            .emulate_timezone(SetTimezoneOverrideParams::new(zone))
            .await
            .expect("set the time zone");
    }

    /// Signs the browser in with a session id, as the login form's cookie would.
    pub async fn set_session_cookie(&self, base: &str, session_id: &str) {
        self.page
            .set_cookie(
                CookieParam::builder()
                    .name("homewatch_session")
                    .value(session_id)
                    .url(base)
                    .http_only(true)
                    .build()
                    .expect("a cookie"),
            )
            .await
            .expect("set the session cookie");
    }

    /// Runs the page with JavaScript off (`false`), as a visitor who turned it off would see it.
    #[allow(dead_code)] // used by the page tests, not by benches/page.rs
    pub async fn set_javascript(&self, enabled: bool) {
        self.page
            .execute(SetScriptExecutionDisabledParams::new(!enabled))
            .await
            .expect("switch JavaScript");
    }

    /// Turns the browser's HTTP cache off (a first visit) or on (a return visit).
    #[allow(dead_code)] // used by benches/page.rs
    pub async fn set_cache(&self, enabled: bool) {
        self.page
            .execute(SetCacheDisabledParams::new(!enabled))
            .await
            .expect("set the cache");
    }

    /// Formats numbers and dates as a viewer with this locale would see them (e.g. `en-GB`).
    pub async fn emulate_locale(&self, locale: &str) {
        self.page
            .emulate_locale(SetLocaleOverrideParams::builder().locale(locale).build())
            .await
            .expect("set the locale");
    }

    pub async fn goto(&self, url: &str) {
        self.page.goto(url).await.expect("navigate");
        self.page.wait_for_navigation().await.expect("page loads");
    }

    pub async fn reload(&self) {
        self.page.reload().await.expect("reload");
    }

    pub async fn url(&self) -> String {
        self.page.url().await.ok().flatten().unwrap_or_default()
    }

    /// Runs a JavaScript expression (promises are awaited) and returns its JSON value.
    pub async fn eval<T: DeserializeOwned>(&self, expression: &str) -> T {
        let mut attempts = 0;
        let result = loop {
            match tokio::time::timeout(COMMAND_WAIT, self.page.evaluate(expression)).await {
                Ok(result) => {
                    break result.unwrap_or_else(|err| panic!("evaluating `{expression}` failed: {err}"));
                }
                Err(_) if attempts < 2 => attempts += 1,
                Err(_) => panic!("evaluating `{expression}` got no answer in 3 tries of {COMMAND_WAIT:?}"),
            }
        };
        let value = result.value().cloned().unwrap_or(Value::Null);
        serde_json::from_value(value.clone())
            .unwrap_or_else(|err| panic!("`{expression}` gave {value}, not the expected type: {err}"))
    }

    /// Waits until `condition` (a JavaScript expression) is truthy; fails naming what was awaited.
    pub async fn wait_for(&self, condition: &str, what: &str) {
        let deadline = Instant::now() + WAIT;
        let check =
            format!("(() => {{ try {{ return Boolean({condition}); }} catch (e) {{ return false; }} }})()");
        loop {
            if self.eval::<bool>(&check).await {
                return;
            }
            if Instant::now() > deadline {
                let body: String = self
                    .eval("document.body ? document.body.innerText.slice(0, 2000) : ''")
                    .await;
                panic!(
                    "waited {WAIT:?} for {what} (`{condition}`) on {}; JavaScript errors: {:?}; the page shows:\n{body}",
                    self.url().await,
                    self.errors()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until an element matching `selector` is in the page and visible.
    pub async fn wait_visible(&self, selector: &str) {
        let condition = format!(
            "(() => {{ const node = document.querySelector({sel}); return node && node.getClientRects().length > 0; }})()",
            sel = js_string(selector)
        );
        self.wait_for(&condition, &format!("`{selector}` to be visible"))
            .await;
    }

    pub async fn text(&self, selector: &str) -> String {
        self.wait_visible(selector).await;
        self.eval(&format!(
            "document.querySelector({}).textContent",
            js_string(selector)
        ))
        .await
    }

    pub async fn count(&self, selector: &str) -> usize {
        self.eval(&format!(
            "[...document.querySelectorAll({})].filter(n => n.getClientRects().length > 0).length",
            js_string(selector)
        ))
        .await
    }

    /// A real mouse click in the middle of the element, once it is visible. The page may replace the element
    /// between finding and clicking it (a live update re-renders): then it is found again.
    pub async fn click(&self, selector: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            self.wait_visible(selector).await;
            let attempt = async {
                match self.page.find_element(selector).await {
                    Ok(element) => element.click().await.map(|_| ()).map_err(|err| err.to_string()),
                    Err(err) => Err(err.to_string()),
                }
            };
            let clicked = match tokio::time::timeout(COMMAND_WAIT, attempt).await {
                Ok(result) => result,
                Err(_) => Err(format!("no answer within {COMMAND_WAIT:?}")),
            };
            match clicked {
                Ok(()) => return,
                Err(err) if Instant::now() > deadline => panic!("cannot click `{selector}`: {err}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Replaces a field's text as typing would (focus, clear, insert text; input events fire).
    pub async fn fill(&self, selector: &str, text: &str) {
        self.click(selector).await;
        self.eval::<Value>(&format!(
            "(() => {{ const node = document.querySelector({}); node.select && node.select(); \
             document.execCommand('delete'); return null; }})()",
            js_string(selector)
        ))
        .await;
        if !text.is_empty() {
            tokio::time::timeout(COMMAND_WAIT, self.page.execute(InsertTextParams::new(text)))
                .await
                .unwrap_or_else(|_| panic!("typing into `{selector}` got no answer within {COMMAND_WAIT:?}"))
                .expect("type text");
        }
    }

    /// Picks an option of a `<select>` by value, firing `change` as a person's choice would.
    pub async fn select(&self, selector: &str, value: &str) {
        self.wait_visible(selector).await;
        self.eval::<Value>(&format!(
            "(() => {{ const node = document.querySelector({}); node.focus(); node.value = {}; \
             node.dispatchEvent(new Event('change', {{ bubbles: true }})); return null; }})()",
            js_string(selector),
            js_string(value)
        ))
        .await;
    }

    /// Presses a key (`/`, `Enter`, `Escape`, `ArrowLeft`...) on whatever has focus.
    pub async fn press(&self, key: &str) {
        self.page
            .find_element("html")
            .await
            .expect("the document")
            .press_key(key)
            .await
            .unwrap_or_else(|err| panic!("cannot press {key}: {err}"));
    }

    pub async fn focus(&self, selector: &str) {
        self.wait_visible(selector).await;
        self.eval::<Value>(&format!(
            "(() => {{ document.querySelector({}).focus(); return null; }})()",
            js_string(selector)
        ))
        .await;
    }

    /// Presses the mouse on `from`, moves in steps to the middle of `to`, and releases there.
    pub async fn drag(&self, from: &str, to: &str) {
        let (x0, y0) = self.center(from).await;
        let (x1, y1) = self.center(to).await;
        self.mouse(DispatchMouseEventType::MouseMoved, x0, y0, false)
            .await;
        self.mouse(DispatchMouseEventType::MousePressed, x0, y0, true)
            .await;
        let steps = 12;
        for step in 1..=steps {
            let t = f64::from(step) / f64::from(steps);
            let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
            self.mouse(DispatchMouseEventType::MouseMoved, x, y, true).await;
            tokio::time::sleep(Duration::from_millis(16)).await;
        }
        self.mouse(DispatchMouseEventType::MouseReleased, x1, y1, false)
            .await;
    }

    async fn center(&self, selector: &str) -> (f64, f64) {
        self.wait_visible(selector).await;
        let point: [f64; 2] = self
            .eval(&format!(
                "(() => {{ const node = document.querySelector({}); node.scrollIntoView({{ block: 'center' }}); \
                 const box = node.getBoundingClientRect(); return [box.x + box.width / 2, box.y + box.height / 2]; }})()",
                js_string(selector)
            ))
            .await;
        (point[0], point[1])
    }

    /// One mouse event; `held` says the left button is down during (or after) it.
    async fn mouse(&self, kind: DispatchMouseEventType, x: f64, y: f64, held: bool) {
        let moved = matches!(kind, DispatchMouseEventType::MouseMoved);
        let mut event = DispatchMouseEventParams::builder()
            .r#type(kind)
            .x(x)
            .y(y)
            .buttons(i64::from(held));
        if !moved || held {
            event = event.button(MouseButton::Left);
        }
        if !moved {
            event = event.click_count(1);
        }
        self.page
            .execute(event.build().expect("mouse event"))
            .await
            .expect("dispatch a mouse event");
    }

    /// Saves a full-page PNG to target/e2e/NAME.png and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let path = artifacts_dir().join(format!("{name}.png"));
        self.page
            .save_screenshot(ScreenshotParams::builder().full_page(true).build(), &path)
            .await
            .expect("take a screenshot");
        // A full-page capture resizes the view and then drops every size override: put the screen back.
        let screen = *self.screen.lock().unwrap();
        self.set_screen(screen).await;
        path
    }
}

/// A Rust string as a JavaScript string literal.
pub fn js_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}
