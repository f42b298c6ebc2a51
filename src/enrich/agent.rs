//! agent: tells the browser, the operating system and whether the client is a bot from a
//! user-agent string, with a bounded cache because the same few agents repeat all day.

use std::sync::{Arc, OnceLock};

use moka::sync::Cache;

use super::EnrichError;
use crate::hit::Device;

/// The uap-core rules (browser, OS and device regexes) that `ua-parser` needs but does not ship
/// in a loadable form: its crate has no loader and no data API, so the rules are embedded here,
/// converted once from uap-core's `regexes.yaml` to JSON so that the `serde_json` we already
/// depend on can read them (no YAML parser in the binary).
const UAP_RULES: &str = include_str!("uap-regexes.json");

/// Total weight the agent cache may hold: roughly the bytes of the agent strings it keeps.
/// Weighing by size rather than counting entries keeps memory flat even when a client sends
/// agents of several kilobytes; at a typical 150–250 bytes an agent this is about 10,000 agents.
const CACHE_BYTES: u64 = 2_500_000;

/// What the user agent says about the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agent {
    /// Browser family (`Firefox`, `Chrome`, `Mobile Safari`, `Googlebot`), if recognised.
    pub browser: Option<String>,
    /// Operating system family (`Linux`, `Windows`, `iOS`), if recognised.
    pub os: Option<String>,
    /// The client is a crawler or another program rather than a person's browser.
    pub bot: bool,
    /// Desktop, phone, tablet or bot (`None` for an empty agent).
    pub device: Option<Device>,
}

/// The compiled rules. Compiling them takes a noticeable time (hundreds of regexes), so they
/// are built once per process and shared by every classifier.
struct Rules {
    uap: ua_parser::Extractor<'static>,
}

/// Rules of the process, set by the first classifier that builds them.
static RULES: OnceLock<Arc<Rules>> = OnceLock::new();

impl Rules {
    /// Returns the process's rules, building them on first use.
    fn shared() -> Result<Arc<Rules>, EnrichError> {
        if let Some(rules) = RULES.get() {
            return Ok(Arc::clone(rules));
        }
        // Two threads may both get here and build; one result wins and the other is dropped.
        // That is cheaper to reason about than holding a lock across a slow build.
        let regexes: ua_parser::Regexes<'static> = serde_json::from_str(UAP_RULES)?;
        let rules = Rules {
            uap: ua_parser::Extractor::try_from(regexes)?,
        };
        Ok(Arc::clone(RULES.get_or_init(|| Arc::new(rules))))
    }

    /// Classifies one agent, without cache.
    fn classify(&self, agent: &str) -> Agent {
        let browser = self.uap.ua.extract(agent).map(|v| v.family);
        let os = self.uap.os.extract(agent).map(|v| v.os);
        // uap-core marks crawlers with the device family `Spider`; isbot knows many more
        // programs (curl, monitoring, feed readers), and the filter a few more health checks:
        // either one is enough.
        let spider = self
            .uap
            .dev
            .extract(agent)
            .is_some_and(|d| d.device == "Spider");
        let bot = spider || crate::filter::is_bot_agent(agent);
        Agent {
            browser: known(browser.as_deref()),
            os: known(os.as_deref()),
            bot,
            device: Some(Device::of_agent(agent, bot)),
        }
    }
}

/// uap-core answers `Other` when no rule matched: for the dashboard that is "unknown".
fn known(family: Option<&str>) -> Option<String> {
    family
        .filter(|f| !f.is_empty() && *f != "Other")
        .map(str::to_owned)
}

/// Classifies user-agent strings, remembering recent answers.
///
/// Cloning is cheap and clones share the rules and the cache.
#[derive(Clone)]
pub struct AgentClassifier {
    rules: Arc<Rules>,
    cache: Cache<String, Arc<Agent>>,
    /// The answer for an empty agent, kept so that it costs neither a lookup nor an allocation.
    empty: Arc<Agent>,
}

impl std::fmt::Debug for AgentClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentClassifier")
            .field("cached", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

impl AgentClassifier {
    /// Builds a classifier. The first call in a process compiles the rules (tens of
    /// milliseconds in a release build, longer in debug); later calls share them.
    pub fn new() -> Result<Self, EnrichError> {
        let cache = Cache::builder()
            .max_capacity(CACHE_BYTES)
            // The key is the agent itself; the rest of an entry is small and about constant.
            .weigher(|agent: &String, _: &Arc<Agent>| {
                u32::try_from(agent.len() + 64).unwrap_or(u32::MAX)
            })
            .build();
        Ok(AgentClassifier {
            rules: Rules::shared()?,
            cache,
            empty: Arc::new(Agent::default()),
        })
    }

    /// Tells what `agent` is. An empty agent says nothing: no browser, no OS, not marked as a bot.
    pub fn classify(&self, agent: &str) -> Arc<Agent> {
        if agent.is_empty() {
            return Arc::clone(&self.empty);
        }
        // get_with_by_ref also makes concurrent misses on the same agent classify it once.
        self.cache
            .get_with_by_ref(agent, || Arc::new(self.rules.classify(agent)))
    }

    /// Classifies without looking at or filling the cache (to measure the cache's worth).
    pub fn classify_uncached(&self, agent: &str) -> Agent {
        self.rules.classify(agent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIREFOX_LINUX: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) \
        AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
    const GOOGLEBOT: &str =
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    const GOOGLEBOT_SMARTPHONE: &str = "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) \
        AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 \
        (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

    fn classifier() -> AgentClassifier {
        AgentClassifier::new().expect("the built-in rules compile")
    }

    fn parts(a: &Agent) -> (Option<&str>, Option<&str>, bool) {
        (a.browser.as_deref(), a.os.as_deref(), a.bot)
    }

    #[test]
    fn firefox_on_linux() {
        let c = classifier();
        assert_eq!(
            parts(&c.classify(FIREFOX_LINUX)),
            (Some("Firefox"), Some("Linux"), false)
        );
    }

    #[test]
    fn chrome_on_windows() {
        let c = classifier();
        assert_eq!(
            parts(&c.classify(CHROME_WINDOWS)),
            (Some("Chrome"), Some("Windows"), false)
        );
    }

    #[test]
    fn safari_on_iphone() {
        let c = classifier();
        assert_eq!(
            parts(&c.classify(SAFARI_IPHONE)),
            (Some("Mobile Safari"), Some("iOS"), false)
        );
    }

    #[test]
    fn googlebot_is_a_bot() {
        let c = classifier();
        let a = c.classify(GOOGLEBOT);
        assert!(a.bot);
        assert_eq!(a.browser.as_deref(), Some("Googlebot"));
        // The smartphone crawler looks like Chrome on Android, and is still a bot.
        assert!(c.classify(GOOGLEBOT_SMARTPHONE).bot);
    }

    #[test]
    fn curl_is_a_bot() {
        let c = classifier();
        let a = c.classify("curl/8.11.1");
        assert!(a.bot, "{a:?}");
        assert_eq!(a.os, None);
    }

    #[test]
    fn empty_agent_says_nothing() {
        let c = classifier();
        assert_eq!(*c.classify(""), Agent::default());
    }

    #[test]
    fn unknown_agent_is_not_named_other() {
        let c = classifier();
        let a = c.classify("x");
        assert_eq!((a.browser.as_deref(), a.os.as_deref()), (None, None));
    }

    #[test]
    fn repeated_agent_comes_from_the_cache() {
        let c = classifier();
        let first = c.classify(CHROME_WINDOWS);
        let second = c.classify(CHROME_WINDOWS);
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(*first, c.classify_uncached(CHROME_WINDOWS));
        // Clones share the cache.
        assert!(Arc::ptr_eq(&first, &c.clone().classify(CHROME_WINDOWS)));
    }

    /// Measures classify() uncached and cached. Run with:
    /// `cargo test --lib enrich::agent -- --ignored --nocapture` (debug build) — the numbers are
    /// for comparing the two, not absolute speed.
    #[test]
    #[ignore]
    fn measure_classify_cost() {
        use std::hint::black_box;
        use std::time::Instant;

        let agents = [
            FIREFOX_LINUX,
            CHROME_WINDOWS,
            SAFARI_IPHONE,
            GOOGLEBOT,
            GOOGLEBOT_SMARTPHONE,
            "curl/8.11.1",
        ];
        let started = Instant::now();
        let c = classifier();
        eprintln!("rules built in {:?}", started.elapsed());

        let rounds = 200;
        let started = Instant::now();
        for _ in 0..rounds {
            for a in agents {
                black_box(c.classify_uncached(black_box(a)));
            }
        }
        let uncached = started.elapsed() / (rounds * agents.len() as u32);

        for a in agents {
            c.classify(a);
        }
        let rounds = 20_000;
        let started = Instant::now();
        for _ in 0..rounds {
            for a in agents {
                black_box(c.classify(black_box(a)));
            }
        }
        let cached = started.elapsed() / (rounds * agents.len() as u32);
        eprintln!(
            "classify: uncached {uncached:?}/agent, cached {cached:?}/agent, ratio {:.0}x",
            uncached.as_secs_f64() / cached.as_secs_f64()
        );
    }
}
