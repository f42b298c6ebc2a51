//! dns: reverse DNS of client addresses that never holds up the stream: a name is given only
//! when it is already known, and unknown addresses are looked up in the background, the name
//! being sent on a channel when it arrives.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use moka::Expiry;
use moka::sync::Cache;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::sync::mpsc::Sender;

use super::EnrichError;

/// Longest a lookup may take, from the hit that asked for it to the answer (waiting for a
/// free slot included). A name that comes later is of little use to a live view.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);
/// Lookups on the wire at once: enough for a busy site, few enough not to flood a resolver.
pub const MAX_CONCURRENT: usize = 64;
/// Addresses waiting for or under lookup at once. Past this, new addresses are not looked up
/// (the next hit from them tries again): a flood of new clients must not pile up tasks.
pub const MAX_IN_FLIGHT: usize = 1024;
/// Names are kept at least this long, whatever their record's TTL.
pub const MIN_TTL: Duration = Duration::from_secs(1);
/// Longest time a name is kept.
pub const POSITIVE_TTL: Duration = Duration::from_secs(3600);
/// How long an address without a name (or whose lookup failed) is left alone. Shorter, since a
/// failure may be passing, but long enough that a nameless visitor costs one query per visit.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(300);
/// Addresses remembered, with or without a name.
const CACHE_ENTRIES: u64 = 100_000;

/// A host name found for a client address, sent once the background lookup has answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostName {
    /// The client address.
    pub ip: IpAddr,
    /// Its name, without the trailing dot.
    pub name: String,
}

/// Reverse DNS with a cache, looking up in the background.
///
/// Cloning is cheap and clones share the cache, the limits and the channel.
#[derive(Clone)]
pub struct ReverseDns {
    shared: Arc<Shared>,
}

struct Shared {
    resolver: TokioResolver,
    /// What is known of an address, kept for as long as [`Known::keep`] says.
    cache: Cache<IpAddr, Known>,
    /// Addresses being looked up, so that a busy client causes one query, not one per hit.
    in_flight: Mutex<HashSet<IpAddr>>,
    slots: Semaphore,
    names: Sender<HostName>,
    /// The runtime to spawn lookups on: `lookup` may be called from a thread outside it.
    runtime: Handle,
}

impl std::fmt::Debug for ReverseDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReverseDns")
            .field("cached", &self.shared.cache.entry_count())
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

/// What a lookup taught about an address.
#[derive(Debug, Clone)]
struct Known {
    /// The name, or `None` for an address without one (or whose lookup failed).
    name: Option<Arc<str>>,
    /// How long to keep this.
    keep: Duration,
}

impl Known {
    /// A name from a PTR record with this TTL (what is left of it when the answer came from
    /// the resolver's own cache): kept no longer than the record says, nor than
    /// [`POSITIVE_TTL`], and no shorter than [`MIN_TTL`]: a zone that says "do not cache"
    /// (TTL 0) would otherwise cost a lookup, and a `hosts` frame to every viewer, on every
    /// hit from its addresses.
    fn name(name: Arc<str>, record_ttl: u32) -> Self {
        Known {
            name: Some(name),
            keep: Duration::from_secs(u64::from(record_ttl)).clamp(MIN_TTL, POSITIVE_TTL),
        }
    }

    /// No name for now.
    fn none() -> Self {
        Known {
            name: None,
            keep: NEGATIVE_TTL,
        }
    }
}

/// Keeps each entry for its own [`Known::keep`]: names for their record's TTL, absences for
/// [`NEGATIVE_TTL`].
struct Lifetimes;

impl Expiry<IpAddr, Known> for Lifetimes {
    fn expire_after_create(
        &self,
        _ip: &IpAddr,
        known: &Known,
        _created: Instant,
    ) -> Option<Duration> {
        Some(known.keep)
    }

    /// A replaced entry (an expired one not yet evicted, looked up again) gets the new
    /// entry's lifetime, not what was left of the old one's.
    fn expire_after_update(
        &self,
        _ip: &IpAddr,
        known: &Known,
        _updated: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(known.keep)
    }
}

impl ReverseDns {
    /// Uses the system's resolver configuration (`/etc/resolv.conf`) and `/etc/hosts`.
    /// Must be called inside a Tokio runtime, on which the lookups will run.
    pub fn system(names: Sender<HostName>) -> Result<Self, EnrichError> {
        let runtime = Handle::try_current().map_err(|_| EnrichError::NoRuntime)?;
        let mut builder = TokioResolver::builder_tokio().map_err(EnrichError::SystemDns)?;
        bound_resolver_options(builder.options_mut());
        let resolver = builder.build().map_err(EnrichError::Resolver)?;
        Ok(Self::from_parts(resolver, runtime, names))
    }

    /// Asks only the name server at `addr` (UDP, and TCP for long answers), without
    /// `/etc/hosts`. Must be called inside a Tokio runtime, on which the lookups will run.
    pub fn with_server(addr: SocketAddr, names: Sender<HostName>) -> Result<Self, EnrichError> {
        let runtime = Handle::try_current().map_err(|_| EnrichError::NoRuntime)?;
        let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
            .into_iter()
            .map(|mut c| {
                c.port = addr.port();
                c
            })
            .collect();
        let server = NameServerConfig::new(addr.ip(), true, connections);
        let mut options = ResolverOpts::default();
        bound_resolver_options(&mut options);
        // The caller named the server to ask: answers must come from it alone.
        options.use_hosts_file = ResolveHosts::Never;
        let resolver = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(vec![server]),
            TokioRuntimeProvider::default(),
        )
        .with_options(options)
        .build()
        .map_err(EnrichError::Resolver)?;
        Ok(Self::from_parts(resolver, runtime, names))
    }

    fn from_parts(resolver: TokioResolver, runtime: Handle, names: Sender<HostName>) -> Self {
        let cache = Cache::builder()
            .max_capacity(CACHE_ENTRIES)
            .expire_after(Lifetimes)
            .build();
        ReverseDns {
            shared: Arc::new(Shared {
                resolver,
                cache,
                in_flight: Mutex::new(HashSet::new()),
                slots: Semaphore::new(MAX_CONCURRENT),
                names,
                runtime,
            }),
        }
    }

    /// The name of `ip` if it is already known. Otherwise returns `None` at once and starts a
    /// background lookup (unless one is under way, or the address is known to have no name);
    /// when that finds a name, a [`HostName`] is sent on the channel given at construction.
    pub fn lookup(&self, ip: IpAddr) -> Option<String> {
        let shared = &self.shared;
        if let Some(known) = shared.cache.get(&ip) {
            return known.name.as_deref().map(str::to_owned);
        }
        {
            let mut in_flight = shared.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if in_flight.contains(&ip) || in_flight.len() >= MAX_IN_FLIGHT {
                return None;
            }
            // A lookup may have finished between the check above and the lock: it fills the
            // cache before leaving `in_flight`, so looking again under the lock is enough.
            if let Some(known) = shared.cache.get(&ip) {
                return known.name.as_deref().map(str::to_owned);
            }
            in_flight.insert(ip);
        }
        // The guard is made before spawning so that the address leaves `in_flight` even if
        // the task never runs (a runtime shutting down drops it unpolled).
        let done = InFlight {
            shared: Arc::clone(shared),
            ip,
        };
        shared.runtime.spawn(async move {
            done.shared.resolve(done.ip).await;
        });
        None
    }

    /// Lookups waiting or under way (for metrics, and to see that none is left hanging).
    pub fn in_flight(&self) -> usize {
        self.shared
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

impl Shared {
    /// Looks `ip` up, caches the outcome and sends a found name.
    async fn resolve(&self, ip: IpAddr) {
        let deadline = tokio::time::Instant::now() + LOOKUP_TIMEOUT;
        let Ok(Ok(_slot)) = tokio::time::timeout_at(deadline, self.slots.acquire()).await else {
            // Too busy to even start: nothing was learnt, so nothing is cached and the next
            // hit from this address tries again.
            return;
        };
        // An IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d) has its name under
        // in-addr.arpa, not ip6.arpa.
        let query = ip.to_canonical();
        let found =
            match tokio::time::timeout_at(deadline, self.resolver.reverse_lookup(query)).await {
                // The name is good for as long as every record that led to it: the PTR and
                // any CNAME before it (RFC 2317 delegation). Hickory gives what is left of
                // each TTL when the answer comes from its own cache.
                Ok(Ok(answer)) => {
                    let records = answer.answers();
                    let ttl = records.iter().map(|record| record.ttl).min();
                    records
                        .iter()
                        .find_map(|record| match &record.data {
                            RData::PTR(ptr) => Some(ptr.0.to_ascii()),
                            _ => None,
                        })
                        .zip(ttl)
                }
                // No PTR record, a refusal, a network error, or no answer in time: all mean "no
                // name for now" and are cached as such, for less time than a name.
                Ok(Err(error)) => {
                    tracing::debug!(%ip, %error, "no reverse DNS name");
                    None
                }
                Err(_) => {
                    tracing::debug!(%ip, "reverse DNS timed out");
                    None
                }
            };
        // to_ascii keeps internationalised names in their xn-- form: a name is chosen by
        // whoever owns the address, and look-alike Unicode letters must not pass for others.
        let found = found
            .map(|(n, ttl)| (n.trim_end_matches('.').to_owned(), ttl))
            .filter(|(n, _)| !n.is_empty());
        match found {
            Some((name, ttl)) => {
                self.cache
                    .insert(ip, Known::name(Arc::from(name.as_str()), ttl));
                // A full channel means the consumer is behind: dropping the name costs only a
                // label that a later hit from the same address will carry from the cache.
                let _ = self.names.try_send(HostName { ip, name });
            }
            None => self.cache.insert(ip, Known::none()),
        }
    }
}

/// Our timeout and cache bounds, given to hickory too: its own cache (which answers when ours
/// has let an entry go) must not keep a name longer than ours would, nor outwait our timeout.
fn bound_resolver_options(options: &mut ResolverOpts) {
    // Our own timeout ends the lookup anyway; hickory's should not outlast it.
    options.timeout = LOOKUP_TIMEOUT;
    options.positive_max_ttl = Some(POSITIVE_TTL);
    options.negative_max_ttl = Some(NEGATIVE_TTL);
}

/// Takes an address off the in-flight set when its lookup task ends, however it ends
/// (finished, timed out, cancelled at runtime shutdown, or panicked).
struct InFlight {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_a_runtime() {
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let err = ReverseDns::with_server("127.0.0.1:53".parse().unwrap(), tx).unwrap_err();
        assert!(matches!(err, EnrichError::NoRuntime), "{err}");
    }

    #[tokio::test]
    async fn system_configuration_loads() {
        // Only builds the resolver: a lookup would send a query beyond this machine.
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let dns = ReverseDns::system(tx);
        assert!(dns.is_ok(), "{:?}", dns.err());
    }

    #[tokio::test]
    async fn cached_names_and_absences_answer_at_once() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        // Port 9 (discard) on loopback: nothing is asked, the cache answers.
        let dns = ReverseDns::with_server("127.0.0.1:9".parse().unwrap(), tx).unwrap();
        let named: IpAddr = "192.0.2.1".parse().unwrap();
        let nameless: IpAddr = "192.0.2.2".parse().unwrap();
        dns.shared
            .cache
            .insert(named, Known::name(Arc::from("a.example"), 600));
        dns.shared.cache.insert(nameless, Known::none());
        assert_eq!(dns.lookup(named).as_deref(), Some("a.example"));
        assert_eq!(dns.lookup(nameless), None);
        assert_eq!(dns.in_flight(), 0, "a cached absence starts no lookup");
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn names_are_kept_for_their_record_ttl_at_most_an_hour() {
        let now = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let keep = |known: &Known| Lifetimes.expire_after_create(&ip, known, now);
        let name = || Arc::from("a.example");
        assert_eq!(
            keep(&Known::name(name(), 60)),
            Some(Duration::from_secs(60))
        );
        assert_eq!(keep(&Known::name(name(), 3600)), Some(POSITIVE_TTL));
        assert_eq!(keep(&Known::name(name(), 86_400)), Some(POSITIVE_TTL));
        assert_eq!(keep(&Known::name(name(), u32::MAX)), Some(POSITIVE_TTL));
        assert_eq!(keep(&Known::name(name(), 0)), Some(MIN_TTL));
        assert_eq!(keep(&Known::none()), Some(NEGATIVE_TTL));
        // Replacing an entry starts the new entry's own lifetime.
        let left = Some(Duration::from_secs(5));
        let replaced = Lifetimes.expire_after_update(&ip, &Known::name(name(), 120), now, left);
        assert_eq!(replaced, Some(Duration::from_secs(120)));
    }

    #[tokio::test]
    async fn a_name_leaves_the_cache_when_its_record_expires() {
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let dns = ReverseDns::with_server("127.0.0.1:9".parse().unwrap(), tx).unwrap();
        let short: IpAddr = "192.0.2.1".parse().unwrap();
        let long: IpAddr = "192.0.2.2".parse().unwrap();
        let uncached: IpAddr = "192.0.2.3".parse().unwrap();
        let cache = &dns.shared.cache;
        cache.insert(short, Known::name(Arc::from("short.example"), 1));
        cache.insert(long, Known::name(Arc::from("long.example"), 3600));
        cache.insert(uncached, Known::name(Arc::from("zero.example"), 0));
        assert_eq!(
            cache.get(&short).unwrap().name.as_deref(),
            Some("short.example")
        );
        assert!(
            cache.get(&uncached).is_some(),
            "a TTL of 0 is kept a second"
        );
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(cache.get(&short).is_none(), "kept past its record's TTL");
        assert!(
            cache.get(&uncached).is_none(),
            "kept past the shortest time"
        );
        assert_eq!(
            cache.get(&long).unwrap().name.as_deref(),
            Some("long.example")
        );
    }

    #[tokio::test]
    async fn the_cache_is_bounded() {
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let dns = ReverseDns::with_server("127.0.0.1:9".parse().unwrap(), tx).unwrap();
        assert_eq!(
            dns.shared.cache.policy().max_capacity(),
            Some(CACHE_ENTRIES)
        );
    }
}
