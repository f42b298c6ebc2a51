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
/// How long a found name is kept.
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
    /// `Some(name)` for a name, `None` for an address known to have none (negative cache).
    cache: Cache<IpAddr, Option<Arc<str>>>,
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

/// Keeps names longer than failures.
struct Lifetimes;

impl Expiry<IpAddr, Option<Arc<str>>> for Lifetimes {
    fn expire_after_create(
        &self,
        _ip: &IpAddr,
        name: &Option<Arc<str>>,
        _created: Instant,
    ) -> Option<Duration> {
        Some(if name.is_some() {
            POSITIVE_TTL
        } else {
            NEGATIVE_TTL
        })
    }
}

impl ReverseDns {
    /// Uses the system's resolver configuration (`/etc/resolv.conf`) and `/etc/hosts`.
    /// Must be called inside a Tokio runtime, on which the lookups will run.
    pub fn system(names: Sender<HostName>) -> Result<Self, EnrichError> {
        let runtime = Handle::try_current().map_err(|_| EnrichError::NoRuntime)?;
        let mut builder = TokioResolver::builder_tokio().map_err(EnrichError::SystemDns)?;
        // Our own timeout ends the lookup anyway; hickory's own should not outlast it.
        builder.options_mut().timeout = LOOKUP_TIMEOUT;
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
        options.timeout = LOOKUP_TIMEOUT;
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
            return known.as_deref().map(str::to_owned);
        }
        {
            let mut in_flight = shared.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if in_flight.contains(&ip) || in_flight.len() >= MAX_IN_FLIGHT {
                return None;
            }
            // A lookup may have finished between the check above and the lock: it fills the
            // cache before leaving `in_flight`, so looking again under the lock is enough.
            if let Some(known) = shared.cache.get(&ip) {
                return known.as_deref().map(str::to_owned);
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
        let name =
            match tokio::time::timeout_at(deadline, self.resolver.reverse_lookup(query)).await {
                Ok(Ok(answer)) => answer
                    .answers()
                    .iter()
                    .find_map(|record| match &record.data {
                        RData::PTR(ptr) => Some(ptr.0.to_ascii()),
                        _ => None,
                    }),
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
        let name = name
            .map(|n| n.trim_end_matches('.').to_owned())
            .filter(|n| !n.is_empty());
        self.cache.insert(ip, name.as_deref().map(Arc::from));
        if let Some(name) = name {
            // A full channel means the consumer is behind: dropping the name costs only a
            // label that a later hit from the same address will carry from the cache.
            let _ = self.names.try_send(HostName { ip, name });
        }
    }
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
        dns.shared.cache.insert(named, Some(Arc::from("a.example")));
        dns.shared.cache.insert(nameless, None);
        assert_eq!(dns.lookup(named).as_deref(), Some("a.example"));
        assert_eq!(dns.lookup(nameless), None);
        assert_eq!(dns.in_flight(), 0, "a cached absence starts no lookup");
        assert!(rx.try_recv().is_err());
    }
}
