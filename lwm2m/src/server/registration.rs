//! The registration interface (LwM2M 1.1 TS Core §6.2): Register, Update, De-register, and the
//! table of live registrations with lifetime expiry.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::coap::{Code, Request, Response};
use crate::content::{parse_links, ResourcePath};

/// LwM2M versions the server speaks. A client asking for another gets 4.12 Precondition Failed
/// and, as the specification asks of clients, retries with an older one.
pub const SUPPORTED_VERSIONS: [&str; 2] = ["1.1", "1.0"];

/// Longest endpoint name accepted; names are identifiers, not payloads.
pub const MAX_ENDPOINT_NAME: usize = 255;

/// Most object links one registration may announce. A real client has a few dozen (the
/// mandatory objects, a firmware object, some IPSO sensors); what a registration announces
/// becomes facts in the graph, so it is bounded like any other write.
pub const MAX_OBJECT_LINKS: usize = 256;

/// Most live registrations of distinct endpoints from one source address and port. A client
/// is one endpoint on one socket; a flood of names from one socket is refused at once instead
/// of filling the table and the queue of devices to describe.
pub const MAX_ENDPOINTS_PER_PEER: usize = 8;

/// One live registration.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Registration ID, the last segment of the Location-Path `rd/<id>`.
    pub id: String,
    /// Endpoint client name (`ep`).
    pub endpoint: String,
    /// Lifetime in seconds (`lt`).
    pub lifetime: u32,
    /// LwM2M version the client registered with (`lwm2m`).
    pub version: String,
    /// Binding mode (`b`), `U` when absent.
    pub binding: String,
    /// Where the client's requests come from, and where the server's go.
    pub address: SocketAddr,
    /// The PSK identity of the DTLS session the client registered over (`None`: plain CoAP).
    /// The server's requests to it go over that session.
    pub identity: Option<String>,
    /// The object and object-instance paths of the registration payload's links (their
    /// attributes are read when the payload is parsed and not kept: a registration table of a
    /// fleet holds one of these per device).
    pub objects: Vec<ResourcePath>,
    /// The client's alternate root path (`</lwm2m>;rt="oma.lwm2m"`), empty for `/`.
    pub root_path: String,
    /// When the client registered.
    pub registered_at: SystemTime,
    /// When the client last registered or updated.
    pub last_seen: SystemTime,
}

impl Registration {
    /// Whether the client announced object `object` (any instance).
    pub fn has_object(&self, object: u16) -> bool {
        self.object_paths().any(|p| p.object == object)
    }

    /// The object and object-instance paths the client announced.
    pub fn object_paths(&self) -> impl Iterator<Item = ResourcePath> + '_ {
        self.objects.iter().copied()
    }
}

/// Why a registration is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// The client de-registered.
    Deregistered,
    /// The lifetime ran out without an Update.
    Expired,
    /// The same endpoint registered again, replacing this registration.
    Replaced,
}

struct Entry {
    registration: Registration,
    deadline: Instant,
}

/// A registration ID as the table keys it: the 128 random bits whose lowercase hex the ID is.
/// A fleet's table holds one per device in each of two maps; as text it was 24 bytes and an
/// allocation of 48 in each.
type Key = u128;

/// The key of registration ID `id`, `None` when it is not one the table can hold (32
/// lowercase hex digits, as [`RegistrationTable::insert`] makes them): no registration has it.
fn key_of(id: &str) -> Option<Key> {
    let hex = id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    hex.then(|| Key::from_str_radix(id, 16).ok()).flatten()
}

/// The live registrations, by ID and by endpoint name.
#[derive(Default)]
pub(crate) struct RegistrationTable {
    inner: Mutex<Tables>,
}

#[derive(Default)]
struct Tables {
    /// Boxed: the map keeps room for a quarter to a half more entries than it holds, and an
    /// entry (the registration and its deadline) is about 250 bytes.
    by_id: HashMap<Key, Box<Entry>>,
    by_endpoint: HashMap<String, Key>,
    /// Registrations per source address, for [`MAX_ENDPOINTS_PER_PEER`] without a scan of the
    /// whole table at every Register (a storm of n registrations was n² / 2 comparisons).
    by_address: HashMap<SocketAddr, usize>,
    next_id: u64,
}

impl Tables {
    fn count(&mut self, address: SocketAddr) {
        *self.by_address.entry(address).or_default() += 1;
    }

    fn uncount(&mut self, address: SocketAddr) {
        if let std::collections::hash_map::Entry::Occupied(mut n) = self.by_address.entry(address) {
            *n.get_mut() -= 1;
            if *n.get() == 0 {
                n.remove();
            }
        }
    }

    /// Removes registration `id`, and its endpoint's entry if it is still this registration's.
    fn remove(&mut self, id: Key) -> Option<Registration> {
        let entry = self.by_id.remove(&id)?;
        if self.by_endpoint.get(&entry.registration.endpoint) == Some(&id) {
            self.by_endpoint.remove(&entry.registration.endpoint);
        }
        self.uncount(entry.registration.address);
        Some(entry.registration)
    }
}

impl RegistrationTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn get_by_endpoint(&self, endpoint: &str) -> Option<Registration> {
        let tables = self.lock();
        let id = tables.by_endpoint.get(endpoint)?;
        tables.by_id.get(id).map(|e| e.registration.clone())
    }

    pub(crate) fn get(&self, id: &str) -> Option<Registration> {
        self.lock().by_id.get(&key_of(id)?).map(|e| e.registration.clone())
    }

    pub(crate) fn all(&self) -> Vec<Registration> {
        self.lock().by_id.values().map(|e| e.registration.clone()).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// Registers (or re-registers) a client; returns the new registration and the one it
    /// replaced, or `None` when its source already holds [`MAX_ENDPOINTS_PER_PEER`] others.
    pub(crate) fn insert(&self, mut registration: Registration) -> Option<(Registration, Option<Registration>)> {
        let mut tables = self.lock();
        let previous = tables.by_endpoint.get(&registration.endpoint).copied();
        // The other endpoints registered from this address: the endpoint's own registration, if
        // it came from here too, is the one this replaces.
        let own = previous
            .as_ref()
            .and_then(|id| tables.by_id.get(id))
            .is_some_and(|e| e.registration.address == registration.address);
        let from_peer = tables
            .by_address
            .get(&registration.address)
            .map_or(0, |n| n - usize::from(own));
        if from_peer >= MAX_ENDPOINTS_PER_PEER {
            return None;
        }
        // 128 random bits: without DTLS, knowing the ID is what allows an Update or a
        // De-register, so it must not be guessable (a counter with 16 random bits took 65,536
        // datagrams). OS randomness; should it fail, the counter still keeps IDs unique.
        let mut random = [0u8; 16];
        if getrandom::fill(&mut random).is_err() {
            random[..8].copy_from_slice(&fastrand::u64(..).to_le_bytes());
            random[8..].copy_from_slice(&fastrand::u64(..).to_le_bytes());
        }
        tables.next_id += 1;
        random[..8]
            .iter_mut()
            .zip(tables.next_id.to_le_bytes())
            .for_each(|(r, c)| *r ^= c);
        registration.id = hex::encode(random);
        let key = Key::from_be_bytes(random);
        let replaced = previous.and_then(|old| tables.remove(old));
        tables.by_endpoint.insert(registration.endpoint.clone(), key);
        tables.count(registration.address);
        let deadline = Instant::now() + Duration::from_secs(u64::from(registration.lifetime));
        tables.by_id.insert(
            key,
            Box::new(Entry {
                registration: registration.clone(),
                deadline,
            }),
        );
        Some((registration, replaced))
    }

    /// Applies an Update; `None` for an unknown registration ID.
    pub(crate) fn update(&self, id: &str, update: Update, from: SocketAddr) -> Option<Registration> {
        let mut tables = self.lock();
        let entry = tables.by_id.get_mut(&key_of(id)?)?;
        let moved = (entry.registration.address != from).then_some(entry.registration.address);
        let r = &mut entry.registration;
        if let Some(lifetime) = update.lifetime {
            r.lifetime = lifetime;
        }
        if let Some(binding) = update.binding {
            r.binding = binding;
        }
        if let Some(objects) = update.objects {
            r.objects = objects;
        }
        r.address = from;
        r.last_seen = SystemTime::now();
        entry.deadline = Instant::now() + Duration::from_secs(u64::from(r.lifetime));
        let updated = r.clone();
        if let Some(old) = moved {
            tables.uncount(old);
            tables.count(from);
        }
        Some(updated)
    }

    pub(crate) fn remove(&self, id: &str) -> Option<Registration> {
        self.lock().remove(key_of(id)?)
    }

    /// Removes and returns the registrations whose lifetime has run out.
    pub(crate) fn expire(&self, now: Instant) -> Vec<Registration> {
        let mut tables = self.lock();
        let expired: Vec<Key> = tables
            .by_id
            .iter()
            .filter(|(_, e)| e.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        expired.into_iter().filter_map(|id| tables.remove(id)).collect()
    }
}

/// The changeable parts of a registration, as an Update carries them.
#[derive(Debug, Default)]
pub(crate) struct Update {
    pub lifetime: Option<u32>,
    pub binding: Option<String>,
    pub objects: Option<Vec<ResourcePath>>,
}

/// A Register request checked and parsed, or the response that refuses it.
pub(crate) fn parse_register(request: &Request, default_lifetime: u32) -> Result<Registration, Response> {
    let endpoint = match request.query_value("ep") {
        Some(ep) if !ep.is_empty() && ep.len() <= MAX_ENDPOINT_NAME && !ep.chars().any(char::is_control) => ep,
        Some(ep) if ep.len() > MAX_ENDPOINT_NAME => {
            return Err(Response::error(Code::BadRequest, "endpoint name longer than 255 bytes"))
        }
        _ => {
            return Err(Response::error(
                Code::BadRequest,
                "Register without an endpoint name (ep)",
            ))
        }
    };
    // LwM2M 1.0 clients may omit `lwm2m`; 1.0 is then what they speak.
    let version = request.query_value("lwm2m").unwrap_or("1.0");
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Err(Response::error(
            Code::PreconditionFailed,
            "LwM2M version not supported; this server speaks 1.1 and 1.0",
        ));
    }
    let lifetime = parse_lifetime(request)?.unwrap_or(default_lifetime);
    let binding = parse_binding(request)?.unwrap_or_else(|| "U".to_owned());
    let (objects, root_path) = parse_objects(request)?;
    let now = SystemTime::now();
    Ok(Registration {
        id: String::new(),
        endpoint: endpoint.to_owned(),
        lifetime,
        version: version.to_owned(),
        binding,
        address: request.peer,
        identity: request.identity.as_deref().map(str::to_owned),
        objects,
        root_path,
        registered_at: now,
        last_seen: now,
    })
}

/// An Update request parsed, or the response that refuses it.
pub(crate) fn parse_update(request: &Request) -> Result<Update, Response> {
    let objects = if request.payload.is_empty() {
        None
    } else {
        Some(parse_objects(request)?.0)
    };
    Ok(Update {
        lifetime: parse_lifetime(request)?,
        binding: parse_binding(request)?,
        objects,
    })
}

fn parse_lifetime(request: &Request) -> Result<Option<u32>, Response> {
    match request.query_value("lt") {
        None => Ok(None),
        Some(text) => match text.parse::<u32>() {
            Ok(lt) if lt > 0 => Ok(Some(lt)),
            _ => Err(Response::error(
                Code::BadRequest,
                "lifetime (lt) must be a positive integer of seconds",
            )),
        },
    }
}

fn parse_binding(request: &Request) -> Result<Option<String>, Response> {
    match request.query_value("b") {
        None => Ok(None),
        Some(b) if !b.is_empty() && b.chars().all(|c| "USTNQ".contains(c)) => Ok(Some(b.to_owned())),
        Some(_) => Err(Response::error(
            Code::BadRequest,
            "binding (b) must be made of U, S, T, N and Q",
        )),
    }
}

fn parse_objects(request: &Request) -> Result<(Vec<ResourcePath>, String), Response> {
    if let Some(cf) = request.content_format {
        if cf != crate::coap::content_format::LINK_FORMAT {
            return Err(Response::error(
                Code::UnsupportedContentFormat,
                "registration payload must be application/link-format",
            ));
        }
    }
    let links = parse_links(&request.payload).map_err(|e| Response::error(Code::BadRequest, &e.to_string()))?;
    if links.len() > MAX_OBJECT_LINKS {
        return Err(Response::error(
            Code::RequestEntityTooLarge,
            &format!(
                "the registration announces {} object links; at most {MAX_OBJECT_LINKS} are accepted",
                links.len()
            ),
        ));
    }
    let root = links
        .iter()
        .find(|l| l.attribute("rt") == Some("oma.lwm2m") && l.target != "/")
        .map(|l| l.target.trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let mut paths: Vec<ResourcePath> = links.iter().filter_map(|l| l.path).collect();
    paths.shrink_to_fit();
    Ok((paths, root))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(endpoint: &str, port: u16) -> Registration {
        Registration {
            id: String::new(),
            endpoint: endpoint.to_owned(),
            lifetime: 60,
            version: "1.1".to_owned(),
            binding: "U".to_owned(),
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            identity: None,
            objects: Vec::new(),
            root_path: String::new(),
            registered_at: SystemTime::now(),
            last_seen: SystemTime::now(),
        }
    }

    /// The count per address follows every way a registration comes, moves and goes.
    #[test]
    fn the_count_per_address_follows_registrations() {
        let table = RegistrationTable::default();
        let counts = |table: &RegistrationTable| {
            let mut c: Vec<(u16, usize)> = table.lock().by_address.iter().map(|(a, n)| (a.port(), *n)).collect();
            c.sort_unstable();
            c
        };
        let (a, _) = table.insert(registration("a", 1)).unwrap();
        table.insert(registration("b", 1)).unwrap();
        assert_eq!(counts(&table), [(1, 2)]);
        // Re-registering from elsewhere moves its count.
        let (_, replaced) = table.insert(registration("a", 2)).unwrap();
        assert_eq!(replaced.map(|r| r.id), Some(a.id.clone()));
        assert_eq!(counts(&table), [(1, 1), (2, 1)]);
        // So does an Update from a new address (a NAT rebinding).
        let b = table.get_by_endpoint("b").unwrap();
        table.update(&b.id, Update::default(), SocketAddr::from(([127, 0, 0, 1], 3)));
        assert_eq!(counts(&table), [(2, 1), (3, 1)]);
        // De-register and expiry give it back.
        assert!(table.remove(&b.id).is_some());
        assert!(table.remove(&b.id).is_none());
        assert_eq!(counts(&table), [(2, 1)]);
        let gone = table.expire(Instant::now() + Duration::from_secs(61));
        assert_eq!(gone.len(), 1);
        assert_eq!(counts(&table), []);
        assert_eq!(table.len(), 0);
        // A full address refuses another endpoint, not one of its own.
        for i in 0..MAX_ENDPOINTS_PER_PEER {
            assert!(table.insert(registration(&format!("e{i}"), 4)).is_some());
        }
        assert!(table.insert(registration("more", 4)).is_none());
        assert!(table.insert(registration("e0", 4)).is_some());
        assert_eq!(counts(&table), [(4, MAX_ENDPOINTS_PER_PEER)]);
    }

    /// A registration is found by the ID it was given and by no other text: not the same
    /// digits in capitals, with a sign, cut short or longer (the table keys the ID's bits).
    #[test]
    fn a_registration_is_found_by_its_own_id_only() {
        let table = RegistrationTable::default();
        let (r, _) = table.insert(registration("a", 1)).unwrap();
        assert_eq!(r.id.len(), 32);
        assert_eq!(table.get(&r.id).map(|g| g.endpoint), Some("a".to_owned()));
        let near = [
            r.id.to_uppercase(),
            format!("+{}", &r.id[1..]),
            r.id[1..].to_owned(),
            format!("{}0", r.id),
            String::new(),
            "zz".repeat(16),
        ];
        for other in &near {
            if *other == r.id {
                continue;
            }
            assert!(table.get(other).is_none(), "{other}");
            assert!(table.update(other, Update::default(), r.address).is_none(), "{other}");
            assert!(table.remove(other).is_none(), "{other}");
        }
        assert_eq!(table.len(), 1);
        assert!(table.remove(&r.id).is_some());
        assert!(table.get_by_endpoint("a").is_none());
    }
}
