//! Wires the stages together for one run: sources → parse → filter → enrich → hub → web.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::catchup::CatchUp;
use crate::config::{Config, LogConfig, PublishConfig};
use crate::enrich::{AgentClassifier, EnrichError, Enricher, HostName, ReverseDns};
use crate::filter::{Filter, Viewers, is_page_view};
use crate::hit::{Device, Hit, Line, LineStart};
use crate::hub::panels::Request;
use crate::hub::{Hub, HubOptions, Stats};
use crate::nats::NatsError;
use crate::nats::publish::{HitQueue, Publisher};
use crate::nats::subscribe::HitSink;
use crate::parse::{LogFormat, Parser, RawHit};
use crate::report::PanelContext;
use crate::source::{
    FollowOptions, Input, LineSink, Registry, Sink, SourceError, Sources, StateError,
};
use crate::web::{self, Access, Auth, WebState};

/// How long a stopping server waits for its viewers' sockets to be closed (1001) before it stops
/// reading and exits; a viewer whose socket takes nothing is not waited for longer.
const VIEWERS_CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Why a run could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A source failed to start.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Enrichment could not be set up.
    #[error(transparent)]
    Enrich(#[from] EnrichError),
    /// The address could not be bound.
    #[error("{option} {addr}: {source}")]
    Listen {
        /// The option that gave it: `--listen`, or `publish`'s `--metrics-listen`.
        option: &'static str,
        /// The address.
        addr: std::net::SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The demo site failed to start.
    #[error("demo: {0}")]
    Demo(std::io::Error),
    /// Serving failed.
    #[error("serving: {0}")]
    Serve(std::io::Error),
    /// The state file is unusable.
    #[error(transparent)]
    State(#[from] StateError),
    /// NATS could not be used.
    #[error(transparent)]
    Nats(#[from] NatsError),
}

/// Runs webpeek until SIGINT or SIGTERM.
pub async fn run(config: Config) -> Result<(), AppError> {
    // With TLS, SIGHUP reloads the certificates (web::tls); without, it must not end webpeek.
    if config.tls.is_none() {
        tokio::spawn(hangup_reloads_nothing(
            "certificates are re-read only with --tls-cert",
        ));
    }
    raise_open_file_limit(config.limits.max_viewers);
    // Bound first: an address in use is said before anything else starts (and says more).
    let listener =
        std::net::TcpListener::bind(config.listen).map_err(|source| AppError::Listen {
            option: "--listen",
            addr: config.listen,
            source,
        })?;
    let viewers = Viewers::default();

    let mut site = config.log.site.clone();
    let mut inputs = config.log.inputs.clone();
    let mut from_start = config.log.from_start;
    let _demo = if config.demo {
        // The port after the dashboard's (8084 for the default 8083).
        let port = listener
            .local_addr()
            .map_or(0, |a| a.port().checked_add(1).unwrap_or(0));
        let demo = crate::demo::start(port).await.map_err(AppError::Demo)?;
        eprintln!(
            "webpeek: demo: a site with synthetic visitors at {}, its log {}",
            demo.url,
            demo.log.display()
        );
        site.get_or_insert_with(|| demo.url.clone());
        inputs.push(Input::File(demo.log.clone()));
        from_start = true;
        Some(demo)
    } else {
        None
    };

    let hub = Hub::new(HubOptions {
        backlog: config.backlog,
        queue: config.viewer_queue,
        name: config.log.name.clone(),
        preview_every: config.preview_every,
        site: site.clone(),
    });

    // The preview pane may frame the site (the demo's own when it runs), and nothing else.
    let csp = web::content_security_policy(site.as_deref());
    let (names_tx, names_rx) = mpsc::channel::<HostName>(4096);
    // The demo's visitors use documentation addresses (RFC 5737, RFC 3849), which have no
    // names: asking the system resolver about them would only send queries off the machine.
    let dns = match config.dns_server {
        _ if !config.dns || config.demo => None,
        Some(server) => Some(ReverseDns::with_server(server, names_tx)?),
        None => Some(ReverseDns::system(names_tx)?),
    };
    let agents = AgentClassifier::new()?;
    let pipeline = Pipeline::new(
        &config.log,
        Filter::new(config.log.rules.clone(), viewers.clone()),
        agents.clone(),
        Enricher::new(agents.clone(), dns, config.log.geo.clone()),
        Output::Hub(hub.clone()),
        site,
    );
    let own_site = pipeline
        .site
        .as_deref()
        .and_then(crate::hub::panels::site_host);
    let pipeline = Arc::new(Mutex::new(pipeline));
    let sink: Sink = pipeline.clone();

    let follow = FollowOptions {
        from_start,
        poll: config.log.poll_interval,
        inotify: config.log.inotify,
        progress: true,
        // Followed files wake a runtime worker, which runs the pipeline and then the viewers'
        // tasks: the hub's pipeline never blocks.
        runtime: Some(tokio::runtime::Handle::current()),
        ..FollowOptions::default()
    };
    let registry = match &config.log.state {
        Some(path) => Registry::load(path)?,
        None => Registry::default(),
    };
    // What the logs already hold is counted at report speed; the live pipeline takes over
    // for the last minutes of each (see `catchup`).
    let files: Vec<PathBuf> = inputs
        .iter()
        .filter_map(|i| match i {
            Input::File(path) => Some(path.clone()),
            _ => None,
        })
        .collect();
    if !files.is_empty() {
        let (registry, hub) = (registry.clone(), hub.clone());
        let (format, geo, name) = (
            config.log.format.clone(),
            config.log.geo.clone(),
            config.log.name.clone(),
        );
        let backlog = config.backlog;
        let client_from_header = config.log.client_from_header;
        let agents = agents.clone();
        let _ = tokio::task::spawn_blocking(move || {
            CatchUp {
                format: format.as_ref(),
                from_start,
                backlog,
                threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
                client_from_header,
                panels: PanelContext {
                    agents: Some(&agents),
                    geo: geo.as_ref(),
                    own_site: own_site.as_deref(),
                    server: &name,
                },
            }
            .run(&files, &registry, &hub)
        })
        .await;
    }
    let sources = Sources::start(&inputs, &follow, registry, &sink)?;
    if let Some(path) = config.log.state.clone() {
        tokio::spawn(save_state_periodically(
            sources.registry().clone(),
            path,
            None,
        ));
    }
    // Hits of other servers, through the same pipeline from the filter on.
    if let Some(nats) = config.nats.clone() {
        let hits: Arc<dyn HitSink> = pipeline.clone();
        let client = format!("webpeek hub {}", config.log.name);
        let hub = hub.clone();
        match nats.jetstream() {
            Some(stream) => eprintln!(
                "webpeek: taking hits from NATS {} (JetStream stream {}: replayed, then live)",
                nats.url(),
                stream.name
            ),
            None => eprintln!(
                "webpeek: taking hits from NATS {} ({})",
                nats.url(),
                crate::nats::SUBSCRIBE_SUBJECT
            ),
        }
        tokio::spawn(async move {
            if let Err(e) = crate::nats::subscribe::run(nats, client, hub, hits).await {
                tracing::error!("{e}");
            }
        });
    }
    tokio::spawn(forward_host_names(names_rx, hub.clone()));
    tokio::spawn(tick_stats(hub.clone()));

    let addr = listener.local_addr().map_err(AppError::Serve)?;
    let access = Access {
        allow_origin: config.allow_origin.clone(),
        loopback_hosts_only: config.token.is_none()
            && config.trust_proxy.is_empty()
            && addr.ip().is_loopback(),
        trust_proxy: config.trust_proxy.clone(),
        tls: config.tls.is_some(),
    };
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let mut notes = Vec::new();
    if config.token.is_some() {
        notes.push("viewers sign in with the token");
    } else if config.demo {
        notes.push("open it in a browser");
    }
    if std::io::stderr().is_terminal() {
        notes.push("Ctrl-C stops");
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    };
    eprintln!(
        "webpeek: serving {scheme}://{addr}{}{notes}",
        config.base_path
    );
    if let Some(warning) = config.clear_text_warning() {
        tracing::warn!("{warning}");
    }
    let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    let viewing = hub.clone();
    let state = WebState {
        hub,
        viewers,
        access: Arc::new(access),
        auth: Arc::new(Auth::new(config.token.clone())),
        limits: config.limits.clone(),
        counters: Arc::default(),
        base_path: config.base_path.as_str().into(),
        csp: axum::http::HeaderValue::from_str(&csp).expect("CSP is ASCII"),
        closing: closing_rx,
    };
    let shutdown = async move {
        shutdown_signal().await;
        // Viewers' sockets never end by themselves: tell them to close.
        let _ = closing_tx.send(true);
    };
    let tls = config.tls.clone().map(|t| (t.files, t.config));
    web::serve(listener, tls, state, shutdown)
        .await
        .map_err(AppError::Serve)?;
    // The HTTP server's graceful end does not wait for upgraded sockets: give the viewers'
    // tasks a moment to send their close (1001) before the runtime is dropped.
    let deadline = tokio::time::Instant::now() + VIEWERS_CLOSE_WAIT;
    while viewing.viewers() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Stop reading (every line read is handed on by then), then save where each file stands,
    // so a restart with --state neither loses nor repeats a line.
    let registry = sources.registry().clone();
    let _ = tokio::task::spawn_blocking(move || sources.stop()).await;
    if let Some(path) = &config.log.state {
        registry.save(path)?;
        eprintln!("webpeek: positions saved to {}", path.display());
    }
    eprintln!("webpeek: stopped");
    Ok(())
}

/// Runs `webpeek publish` until SIGINT or SIGTERM: follows and parses the logs here and sends
/// the hits it keeps to NATS. Fails when the server refuses the credentials.
pub async fn publish(config: PublishConfig) -> Result<(), AppError> {
    tokio::spawn(hangup_reloads_nothing("publish re-reads no file"));
    let log = &config.log;
    // Bound first, as the main command's --listen: an address in use is said before anything
    // starts (it was said after the logs were being read, and as "--listen").
    let metrics_listener = config
        .metrics_listen
        .map(|addr| {
            std::net::TcpListener::bind(addr)
                .map(|listener| (addr, listener))
                .map_err(|source| AppError::Listen {
                    option: "--metrics-listen",
                    addr,
                    source,
                })
        })
        .transpose()?;
    let queue = HitQueue::new(config.buffer);
    let publisher = Publisher::start(&config.nats, &log.name, queue.clone()).await?;
    let agents = AgentClassifier::new()?;
    // No reverse DNS here: the hub names the clients of the hits it shows.
    let pipeline = Pipeline::new(
        log,
        Filter::new(log.rules.clone(), Viewers::default()),
        agents.clone(),
        Enricher::new(agents, None, log.geo.clone()),
        Output::Nats(queue.clone()),
        log.site.clone(),
    );
    let sink: Sink = Arc::new(Mutex::new(pipeline));
    let follow = FollowOptions {
        from_start: log.from_start,
        poll: log.poll_interval,
        inotify: log.inotify,
        progress: true,
        ..FollowOptions::default()
    };
    let registry = match &log.state {
        Some(path) => Registry::load(path)?,
        None => Registry::default(),
    };
    let sources = Sources::start(&log.inputs, &follow, registry, &sink)?;
    if let Some(path) = log.state.clone() {
        tokio::spawn(save_state_periodically(
            sources.registry().clone(),
            path,
            Some(queue.clone()),
        ));
    }
    eprintln!(
        "webpeek: publishing to NATS {} as {}{} (buffer {} hits)",
        config.nats.url(),
        publisher.subject(),
        config
            .nats
            .jetstream()
            .map(|j| format!(", stored in JetStream stream {}", j.name))
            .unwrap_or_default(),
        config.buffer
    );
    let publisher = Arc::new(publisher);
    if let Some((addr, listener)) = metrics_listener {
        let render = {
            let publisher = publisher.clone();
            Arc::new(move || publisher.metrics())
        };
        eprintln!("webpeek: metrics on http://{addr}/metrics");
        tokio::spawn(async move {
            if let Err(e) = web::serve_metrics(listener, render).await {
                tracing::error!("--metrics-listen {addr}: {e}");
            }
        });
    }
    let refused = tokio::select! {
        _ = shutdown_signal() => None,
        e = publisher.refused() => Some(e),
    };
    // Stop reading (every line read is queued by then), deliver what is queued, then save
    // where each file stands, but no further than its first line not delivered: a restart
    // neither loses nor repeats a line.
    let registry = sources.registry().clone();
    let _ = tokio::task::spawn_blocking(move || sources.stop()).await;
    let counters = queue.counters().clone();
    let limit = if refused.is_some() {
        Duration::ZERO
    } else {
        Duration::from_secs(5)
    };
    let undelivered = publisher.finish(limit).await;
    // Refused from the start: nothing went out, so the positions stay where they were.
    if let (Some(path), None) = (&log.state, &refused) {
        registry.save_holding_back(path, &|| queue.undelivered())?;
        eprintln!("webpeek: positions saved to {}", path.display());
    }
    let count = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "webpeek: published {} hits in {} messages; dropped {}{}",
        count(&counters.published),
        count(&counters.messages),
        count(&counters.dropped) + count(&counters.too_big),
        if undelivered > 0 && log.state.is_some() && refused.is_none() {
            format!(
                "; {undelivered} not delivered (NATS unreachable or no hub at exit): the next run with this --state sends them"
            )
        } else if undelivered > 0 {
            format!("; {undelivered} not delivered (NATS unreachable or no hub at exit)")
        } else {
            String::new()
        }
    );
    match refused {
        Some(e) => Err(e.into()),
        None => {
            eprintln!("webpeek: stopped");
            Ok(())
        }
    }
}

/// Saves read positions every few seconds, for a restart after a crash; with `undelivered`
/// (publishing), no further than each file's first line whose hit NATS has not taken yet.
async fn save_state_periodically(
    registry: Registry,
    path: std::path::PathBuf,
    undelivered: Option<HitQueue>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.tick().await;
    loop {
        tick.tick().await;
        let (registry, path, queue) = (registry.clone(), path.clone(), undelivered.clone());
        let saved = tokio::task::spawn_blocking(move || match queue {
            Some(queue) => registry.save_holding_back(&path, &|| queue.undelivered()),
            None => registry.save(&path),
        })
        .await;
        if let Ok(Err(e)) = saved {
            tracing::warn!("{e}");
        }
    }
}

/// Open files a viewer-serving process needs besides one per viewer (logs, inotify, listeners,
/// DNS, NATS, connections still in their HTTP request).
#[cfg(unix)]
const SPARE_FILES: libc::rlim_t = 256;

/// Raises the soft limit of open files to the hard one, as the kernel allows any process to
/// (the soft limit is often 1,024, which would cap viewers near 1,000: a connection accepted
/// past it fails with EMFILE before it can even be told 503), and warns when even the hard limit
/// is below `--max-viewers`.
fn raise_open_file_limit(max_viewers: usize) {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain system calls on a local struct.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                ..limit
            };
            // SAFETY: as above.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                limit = raised;
            }
        }
        let wanted = (max_viewers as libc::rlim_t).saturating_add(SPARE_FILES);
        if limit.rlim_cur < wanted {
            tracing::warn!(
                "open files limited to {} (ulimit -n): fewer viewers than --max-viewers {max_viewers} can connect; \
                 raise it (systemd: LimitNOFILE={wanted})",
                limit.rlim_cur
            );
        }
    }
    #[cfg(not(unix))]
    let _ = max_viewers;
}

/// Takes SIGHUP (`systemctl reload`, a closed terminal) and says it reloaded nothing, so that
/// the signal's default action, ending the process unsaved, never happens.
async fn hangup_reloads_nothing(why: &'static str) {
    // In a terminal a hangup is the terminal closing: that ends webpeek ([`shutdown_signal`]).
    if std::io::stderr().is_terminal() {
        return;
    }
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP: nothing to reload ({why})");
        }
    }
    #[cfg(not(unix))]
    let _ = why;
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        // A closed terminal (SIGHUP while stderr is one) ends webpeek cleanly too; elsewhere
        // SIGHUP is a reload.
        let mut hangup = std::io::stderr()
            .is_terminal()
            .then(|| signal(SignalKind::hangup()).ok())
            .flatten();
        let hung_up = async {
            match hangup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
            () = hung_up => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Where the pipeline hands the hits it keeps.
#[derive(Clone)]
enum Output {
    /// This process's hub: counted, kept and shown here.
    Hub(Hub),
    /// `publish`: queued for NATS.
    Nats(HitQueue),
}

/// The stages between the sources and the hub (or NATS), for one run.
struct Pipeline {
    format: Option<LogFormat>,
    client_from_header: bool,
    /// One parser per source, each detecting its own format.
    parsers: HashMap<Arc<str>, Parser>,
    filter: Filter,
    enricher: Enricher,
    /// The enricher's agent rules and cache, for the page views the panels count.
    agents: AgentClassifier,
    output: Output,
    site: Option<String>,
    /// This machine's name, on every hit.
    server: Arc<str>,
    /// Per source: when lines that match no format were last said in the log, and how many
    /// came since.
    unparsed_said: HashMap<Arc<str>, (Instant, u64)>,
}

/// How often lines that match no format are said again, per source.
const UNPARSED_EVERY: Duration = Duration::from_secs(60);

impl Pipeline {
    fn new(
        log: &LogConfig,
        filter: Filter,
        agents: AgentClassifier,
        enricher: Enricher,
        output: Output,
        site: Option<String>,
    ) -> Pipeline {
        Pipeline {
            format: log.format.clone(),
            client_from_header: log.client_from_header,
            parsers: HashMap::new(),
            filter,
            agents,
            enricher,
            output,
            site,
            server: log.name.clone(),
            unparsed_said: HashMap::new(),
        }
    }

    /// Whether the hit of this agent is hidden as a bot (`--no-bots`): isbot's patterns, which
    /// the filter checked, and uap-core's crawlers, as the dashboard marks them. Asked before
    /// enrichment, so a hidden crawler costs no DNS or GeoIP lookup.
    fn hidden_bot(&self, agent: Option<&str>) -> bool {
        self.filter.hides_bots() && agent.is_some_and(|a| self.agents.classify(a).bot)
    }
}

/// Says in the log that a line of `source` matched no format: the first at once, with the line,
/// why it failed and what to do, then, with the next one a minute or more later, how many came
/// in between. The dashboard only counts them; a newcomer whose server writes a custom format
/// learns why here.
fn say_unparsed(
    said: &mut HashMap<Arc<str>, (Instant, u64)>,
    source: &Arc<str>,
    text: &str,
    format: Option<&LogFormat>,
) {
    match said.get_mut(source) {
        None => {
            // Escaped and cut: the line is anyone's, and goes to a terminal.
            let mut sample: String = text.chars().take(160).collect();
            if sample.len() < text.len() {
                sample.push('…');
            }
            let reading = format.map_or_else(
                || "no format detected yet".to_string(),
                |f| format!("the file reads as {}: {}", f.name(), f.diagnose(text)),
            );
            tracing::warn!(
                "{source}: a line matched no log format ({reading}): {sample:?}; if the server \
                 writes another format, give it with --format '<its log_format or LogFormat \
                 string>' (`webpeek report --detect FILE` tells which formats read a file)"
            );
            said.insert(source.clone(), (Instant::now(), 0));
        }
        Some((at, since)) => {
            *since += 1;
            if at.elapsed() >= UNPARSED_EVERY {
                tracing::warn!(
                    "{source}: {since} more line(s) matched no log format since the last warning"
                );
                *at = Instant::now();
                *since = 0;
            }
        }
    }
}

/// The pipeline runs on the thread (or runtime task) of the source that read the lines: one
/// hand-off fewer between a `write()` to the log and the viewers.
impl LineSink for Mutex<Pipeline> {
    fn take(&self, lines: Vec<Line>) -> bool {
        let mut pipeline = self.lock().expect("pipeline lock");
        match pipeline.output.clone() {
            Output::Hub(hub) => {
                // The counts are published with the hits, under one lock: `/api/stats` never
                // counts a hit that a viewer connecting at that moment would miss from the
                // backlog, and a viewer that has a hit finds it counted. The hits go out
                // first: counting (top lists, panels, charts) costs more than the rest of the
                // way, and a follower on a thread of its own counts while a worker sends them.
                let now = crate::unix_now();
                let mut stats = hub.stats();
                let batch = pipeline.step(&lines, true);
                let shown = hub.publish(batch.shown);
                pipeline.count(&batch.counted, &shown, &mut stats, now);
            }
            // Waits here while the queue is full and NATS is up (the log waits on disk).
            Output::Nats(queue) => {
                let batch = pipeline.step(&lines, false);
                queue.push(batch.shown, batch.starts);
            }
        }
        true
    }
}

/// Hits from other servers (`--nats`) join the pipeline after the parser: they are counted
/// like lines read here, then filtered, enriched (host names, and countries the publisher
/// did not know) and shown.
impl HitSink for Mutex<Pipeline> {
    fn take_hits(&self, hits: Vec<Hit>) {
        let pipeline = self.lock().expect("pipeline lock");
        let Output::Hub(hub) = &pipeline.output else {
            return;
        };
        let now = crate::unix_now();
        let mut stats = hub.stats();
        let mut shown = Vec::with_capacity(hits.len());
        for mut hit in hits {
            if let (None, Some(ip)) = (&hit.country, hit.ip) {
                let (country, asn) = pipeline.enricher.geo(ip);
                hit.country = country;
                hit.asn = hit.asn.or(asn);
            }
            count_hit(&mut stats, &hit, now);
            if pipeline.filter.keep(&hit) && !pipeline.hidden_bot(hit.agent.as_deref()) {
                pipeline.enricher.enrich(&mut hit);
                // The URL viewers may open is the hub's to make: one sent over NATS is only
                // kept when it is under the hub's own `--site` (anyone who may publish on the
                // subject would otherwise put links of their choosing on every page).
                let site = pipeline.site.as_deref();
                let trusted = |url: &String| {
                    site.is_some_and(|s| {
                        url.strip_prefix(s)
                            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                    })
                };
                if !hit.url.as_ref().is_some_and(trusted) {
                    hit.url = site.and_then(|s| full_url(s, &hit));
                }
                stats.count_shown(&hit);
                shown.push(hit);
            }
        }
        hub.publish(shown);
    }
}

/// Counts a request that arrived as a [`Hit`] (from NATS) as [`Pipeline::step`] counts a line.
fn count_hit(stats: &mut Stats, hit: &Hit, now: i64) {
    let network = hit.asn.as_ref().map(ToString::to_string);
    // The publisher's own site (the host of the `url` its `--site` made) is no referring site
    // either, as the hub's own `--site` is not.
    let own_host = hit.vhost.as_deref().or_else(|| {
        hit.url
            .as_deref()
            .and_then(|url| crate::hub::panels::referring_site(url, None, None))
    });
    stats.count_request(
        &Request {
            time: hit.time,
            ip: hit.ip,
            method: &hit.method,
            path: &hit.path,
            status: hit.status,
            bytes: hit.bytes,
            referer: hit.referer.as_deref(),
            vhost: own_host,
            agent: hit.agent.as_deref(),
            browser: hit.browser.as_deref(),
            os: hit.os.as_deref(),
            device: hit.device.map(Device::as_str),
            country: hit.country.as_deref(),
            network: network.as_deref(),
            server: &hit.server,
        },
        now,
    );
}

/// What a batch of lines gave: the hits viewers see, and what the aggregates count.
struct Batch<'a> {
    /// Hits kept by the filter, enriched, in order.
    shown: Vec<Hit>,
    /// Where each shown hit's line starts in its file, for the NATS queue (`--state`); empty
    /// for the hub.
    starts: Vec<Option<LineStart>>,
    /// What is counted (when asked for).
    counted: Counted<'a>,
}

/// A batch's lines as the aggregates count them.
#[derive(Default)]
struct Counted<'a> {
    /// Every parsed request, in order.
    requests: Vec<RawHit<'a>>,
    unparsed: u64,
    truncated: u64,
}

impl Pipeline {
    /// Parses, filters and enriches one batch; with `count`, also keeps the parsed requests
    /// (borrowing the lines) for [`Pipeline::count`].
    fn step<'a>(&mut self, batch: &'a [Line], count: bool) -> Batch<'a> {
        let mut shown = Vec::new();
        // Only the NATS queue keeps where lines start (for `--state`): none for the hub.
        let keep_starts = matches!(self.output, Output::Nats(_));
        let mut starts = Vec::new();
        let mut counted = Counted::default();
        for line in batch {
            counted.truncated += u64::from(line.truncated);
            if line.text.trim().is_empty() {
                continue;
            }
            let parser = self.parsers.entry(line.source.clone()).or_insert_with(|| {
                Parser::new(self.format.clone())
                    .for_source(&line.source)
                    .client_from_header(self.client_from_header)
            });
            // W3C headers and comments: not requests, not unparsed.
            if parser.header(&line.text) {
                continue;
            }
            let Some(raw) = parser.parse_raw(&line.text) else {
                counted.unparsed += 1;
                say_unparsed(
                    &mut self.unparsed_said,
                    &line.source,
                    &line.text,
                    parser.format(),
                );
                continue;
            };
            let request = raw.request();
            // Judged on the text as the hit will carry it (`\/` in JSON is `/`), allocating
            // only for a line with escapes; the agent only matters with --no-bots.
            let (method, path) = (raw.unescaped(request.method), raw.unescaped(request.path));
            let agent = self
                .filter
                .hides_bots()
                .then(|| raw.agent.map(|a| raw.text(a)))
                .flatten();
            if self
                .filter
                .keep_request(raw.ip, &method, &path, agent.as_deref())
                && !self.hidden_bot(agent.as_deref())
            {
                let mut hit = raw.to_hit(&line.source);
                hit.server = self.server.clone();
                self.enricher.enrich(&mut hit);
                hit.url = self.site.as_deref().and_then(|s| full_url(s, &hit));
                shown.push(hit);
                if keep_starts {
                    starts.push(line.start());
                }
            }
            if count {
                counted.requests.push(raw);
            }
        }
        Batch {
            shown,
            starts,
            counted,
        }
    }

    /// Counts a batch's requests and the hits it showed into `stats`. The two are counted
    /// into separate aggregates, so counting all requests and then all shown hits gives what
    /// counting them line by line would.
    fn count(&self, counted: &Counted<'_>, shown: &[Arc<Hit>], stats: &mut Stats, now: i64) {
        stats.truncated += counted.truncated;
        stats.unparsed += counted.unparsed;
        for raw in &counted.requests {
            let request = raw.request();
            let referer = raw.referer.map(|r| raw.unescaped(r));
            let path = raw.unescaped(request.path);
            let agent = raw.agent.map(|a| raw.text(a));
            // Browsers, OS and devices are counted for page views: classify only those.
            let class = agent
                .as_deref()
                .filter(|_| is_page_view(request.method, &path))
                .map(|a| self.agents.classify(a));
            let (country, asn) = raw.ip.map(|ip| self.enricher.geo(ip)).unwrap_or_default();
            let network = asn.as_ref().map(ToString::to_string);
            stats.count_request(
                &Request {
                    time: raw.time,
                    ip: raw.ip,
                    method: request.method,
                    path: &path,
                    status: raw.status,
                    bytes: raw.bytes,
                    referer: referer.as_deref(),
                    vhost: raw.vhost,
                    agent: agent.as_deref(),
                    browser: class.as_ref().and_then(|c| c.browser.as_deref()),
                    os: class.as_ref().and_then(|c| c.os.as_deref()),
                    device: class.as_ref().and_then(|c| c.device).map(Device::as_str),
                    country: country.as_deref(),
                    network: network.as_deref(),
                    server: &self.server,
                },
                now,
            );
        }
        for hit in shown {
            stats.count_shown(hit);
        }
    }
}

/// `site` + path + query; none for a path that does not start with `/` (`GET .evil.net/`
/// would make `https://example.com.evil.net/`, a link that looks like the site's own).
fn full_url(site: &str, hit: &Hit) -> Option<String> {
    if !hit.path.starts_with('/') {
        return None;
    }
    Some(match &hit.query {
        Some(q) => format!("{site}{}?{q}", hit.path),
        None => format!("{site}{}", hit.path),
    })
}

/// Batches host names from reverse DNS into `hosts` frames.
async fn forward_host_names(mut names: mpsc::Receiver<HostName>, hub: Hub) {
    while let Some(first) = names.recv().await {
        let mut batch: HashMap<IpAddr, String> = HashMap::from([(first.ip, first.name)]);
        while let Ok(more) = names.try_recv() {
            batch.insert(more.ip, more.name);
        }
        hub.publish_hosts(batch);
    }
}

/// Sends the aggregates once a second.
async fn tick_stats(hub: Hub) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        hub.publish_stats(crate::unix_now());
    }
}
