//! How many bytes a cached value holds on the heap: the [`Weigh`] trait, its implementations for
//! the standard library's types, and the weighers an entry can carry.
//!
//! With a byte budget ([`CacheBuilder::l1_byte_budget`](crate::CacheBuilder::l1_byte_budget)),
//! each L1 entry weighs its fixed overhead, its key, its tags, `size_of::<V>()` and the value's
//! heap bytes. The heap bytes come from the first of these that applies:
//!
//! 1. a weigher given to the entry: `#[cached(weigh = |v| …)]`, or
//!    [`EntryOptions::weigh_by`](crate::EntryOptions::weigh_by);
//! 2. the value's [`Weigh`] implementation: picked up by `#[cached]` for any return type that
//!    implements it, and by [`EntryOptions::weigh`](crate::EntryOptions::weigh) for the runtime
//!    API, which also knows the common standard types (see [`std_heap_bytes`]) without being told;
//! 3. the length of the value's encoded payload, when it went to or came from L2;
//! 4. nothing: the value is assumed to own no heap memory (only `size_of::<V>()` is counted).
//!
//! A value type need not implement [`Weigh`]: nothing requires it, and values without it are
//! weighed by the later rules.

use std::any::Any;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::ffi::{CString, OsString};
use std::mem::size_of;
use std::path::PathBuf;
use std::sync::Arc;

use crate::options::EntryOptions;

/// A value that knows how many bytes it owns on the heap, so that an L1 with a byte budget
/// weighs it by what it really costs.
///
/// `heap_bytes` counts what the value allocated (capacities, not lengths), excluding
/// `size_of::<Self>()` itself, which the cache counts. The standard library's strings,
/// collections, boxes, `Arc`s, options, tuples and arrays implement it; implement it for your own
/// value types by adding up their fields:
///
/// ```
/// use layercache::Weigh;
///
/// #[derive(Clone)]
/// struct Product {
///     id: u64,
///     name: String,
///     tags: Vec<String>,
/// }
///
/// impl Weigh for Product {
///     fn heap_bytes(&self) -> usize {
///         self.name.heap_bytes() + self.tags.heap_bytes()
///     }
/// }
///
/// let p = Product { id: 7, name: "lamp".into(), tags: vec!["light".into()] };
/// assert_eq!(p.heap_bytes(), 4 + 24 + 5); // the name, the Vec's one slot, its tag's text
/// ```
///
/// A `#[cached]` function whose value implements `Weigh` uses it without being told; the runtime
/// API uses it through [`EntryOptions::weigh`](crate::EntryOptions::weigh). Estimates are fine:
/// the budget is only as exact as the weights.
pub trait Weigh {
    /// Bytes this value owns on the heap (not counting `size_of::<Self>()`).
    fn heap_bytes(&self) -> usize;
}

/// Types that own no heap memory.
macro_rules! weigh_nothing {
    ($($t:ty),* $(,)?) => {
        $(impl Weigh for $t {
            #[inline]
            fn heap_bytes(&self) -> usize {
                0
            }
        })*
    };
}

weigh_nothing!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    std::time::Duration,
    std::time::SystemTime,
    std::time::Instant,
    std::net::IpAddr,
    std::net::Ipv4Addr,
    std::net::Ipv6Addr,
    std::net::SocketAddr,
    std::cmp::Ordering,
);

/// Borrowed `'static` data is not owned by the value.
impl<T: ?Sized> Weigh for &'static T {
    #[inline]
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl Weigh for String {
    #[inline]
    fn heap_bytes(&self) -> usize {
        self.capacity()
    }
}

impl Weigh for OsString {
    fn heap_bytes(&self) -> usize {
        self.capacity()
    }
}

impl Weigh for PathBuf {
    fn heap_bytes(&self) -> usize {
        self.capacity()
    }
}

impl Weigh for CString {
    fn heap_bytes(&self) -> usize {
        self.as_bytes_with_nul().len()
    }
}

impl Weigh for Box<str> {
    #[inline]
    fn heap_bytes(&self) -> usize {
        self.len()
    }
}

/// The `Arc`'s two reference counts, allocated with its value.
const ARC_COUNTS: usize = 2 * size_of::<usize>();

impl Weigh for Arc<str> {
    #[inline]
    fn heap_bytes(&self) -> usize {
        ARC_COUNTS + self.len()
    }
}

/// The value behind the `Arc` counts in full: the cache keeps it alive, however many clones
/// callers hold.
impl<T: Weigh> Weigh for Arc<T> {
    #[inline]
    fn heap_bytes(&self) -> usize {
        ARC_COUNTS + size_of::<T>() + (**self).heap_bytes()
    }
}

impl<T: Weigh> Weigh for Arc<[T]> {
    fn heap_bytes(&self) -> usize {
        ARC_COUNTS + slice_bytes(self)
    }
}

impl<T: Weigh> Weigh for Box<T> {
    #[inline]
    fn heap_bytes(&self) -> usize {
        size_of::<T>() + (**self).heap_bytes()
    }
}

impl<T: Weigh> Weigh for Box<[T]> {
    fn heap_bytes(&self) -> usize {
        slice_bytes(self)
    }
}

/// The items of a slice in place, and what each owns.
fn slice_bytes<T: Weigh>(items: &[T]) -> usize {
    size_of_val(items) + items.iter().map(Weigh::heap_bytes).sum::<usize>()
}

/// `capacity` slots of `T`, and what each of `items` owns.
fn buffer_bytes<'a, T: Weigh + 'a>(capacity: usize, items: impl Iterator<Item = &'a T>) -> usize {
    capacity * size_of::<T>() + items.map(Weigh::heap_bytes).sum::<usize>()
}

impl<T: Weigh> Weigh for Vec<T> {
    #[inline]
    fn heap_bytes(&self) -> usize {
        buffer_bytes(self.capacity(), self.iter())
    }
}

impl<T: Weigh> Weigh for VecDeque<T> {
    fn heap_bytes(&self) -> usize {
        buffer_bytes(self.capacity(), self.iter())
    }
}

impl<T: Weigh> Weigh for BinaryHeap<T> {
    fn heap_bytes(&self) -> usize {
        buffer_bytes(self.capacity(), self.iter())
    }
}

impl<T: Weigh> Weigh for Option<T> {
    #[inline]
    fn heap_bytes(&self) -> usize {
        self.as_ref().map_or(0, Weigh::heap_bytes)
    }
}

impl<T: Weigh, E: Weigh> Weigh for Result<T, E> {
    fn heap_bytes(&self) -> usize {
        match self {
            Ok(v) => v.heap_bytes(),
            Err(e) => e.heap_bytes(),
        }
    }
}

impl<T: Weigh, const N: usize> Weigh for [T; N] {
    fn heap_bytes(&self) -> usize {
        self.iter().map(Weigh::heap_bytes).sum()
    }
}

impl Weigh for Cow<'static, str> {
    fn heap_bytes(&self) -> usize {
        match self {
            Cow::Borrowed(_) => 0,
            Cow::Owned(s) => s.heap_bytes(),
        }
    }
}

impl<T: Weigh + Clone> Weigh for Cow<'static, [T]> {
    fn heap_bytes(&self) -> usize {
        match self {
            Cow::Borrowed(_) => 0,
            Cow::Owned(v) => v.heap_bytes(),
        }
    }
}

macro_rules! weigh_tuple {
    ($($name:ident)+) => {
        impl<$($name: Weigh),+> Weigh for ($($name,)+) {
            #[allow(non_snake_case)]
            fn heap_bytes(&self) -> usize {
                let ($($name,)+) = self;
                0 $(+ $name.heap_bytes())+
            }
        }
    };
}

weigh_tuple!(A);
weigh_tuple!(A B);
weigh_tuple!(A B C);
weigh_tuple!(A B C D);
weigh_tuple!(A B C D E);
weigh_tuple!(A B C D E F);
weigh_tuple!(A B C D E F G);
weigh_tuple!(A B C D E F G H);

/// The table of a `HashMap`/`HashSet` of this capacity holding items of `slot` bytes: a power
/// of two of buckets (one item and one control byte each, and a group of control bytes more).
fn hash_table_bytes(capacity: usize, slot: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = if capacity < 8 {
        (capacity + 1).next_power_of_two()
    } else {
        (capacity.saturating_mul(8) / 7).next_power_of_two()
    };
    buckets * (slot + 1) + 16
}

impl<K: Weigh, V: Weigh, S> Weigh for HashMap<K, V, S> {
    fn heap_bytes(&self) -> usize {
        hash_table_bytes(self.capacity(), size_of::<(K, V)>())
            + self
                .iter()
                .map(|(k, v)| k.heap_bytes() + v.heap_bytes())
                .sum::<usize>()
    }
}

impl<T: Weigh, S> Weigh for HashSet<T, S> {
    fn heap_bytes(&self) -> usize {
        hash_table_bytes(self.capacity(), size_of::<T>())
            + self.iter().map(Weigh::heap_bytes).sum::<usize>()
    }
}

/// A B-tree of `len` items of `slot` bytes: nodes of up to 11 items, about two thirds full, each
/// with a parent pointer and counts (the few internal nodes' child pointers are not counted).
fn btree_bytes(len: usize, slot: usize) -> usize {
    const ITEMS_PER_NODE: usize = 11;
    let nodes = len.div_ceil(ITEMS_PER_NODE * 2 / 3);
    nodes * (ITEMS_PER_NODE * slot + 16)
}

impl<K: Weigh, V: Weigh> Weigh for BTreeMap<K, V> {
    fn heap_bytes(&self) -> usize {
        btree_bytes(self.len(), size_of::<K>() + size_of::<V>())
            + self
                .iter()
                .map(|(k, v)| k.heap_bytes() + v.heap_bytes())
                .sum::<usize>()
    }
}

impl<T: Weigh> Weigh for BTreeSet<T> {
    fn heap_bytes(&self) -> usize {
        btree_bytes(self.len(), size_of::<T>()) + self.iter().map(Weigh::heap_bytes).sum::<usize>()
    }
}

/// The heap bytes of a value of one of the common standard types that own heap memory, found by
/// its type at run time: `String`, `Box<str>`, `Arc<str>`, `Vec<u8>`, `Vec<String>`,
/// `Box<[u8]>`, `Arc<[u8]>`, and each of `String`, `Vec<u8>` and `Vec<String>` in an `Arc` or an
/// `Option`. `None` for any other type.
///
/// This is how [`Cache::get_or_load`](crate::Cache::get_or_load) and its siblings, which cannot
/// require [`Weigh`] of their values, still weigh the usual values by their heap bytes.
pub fn std_heap_bytes(value: &dyn Any) -> Option<usize> {
    macro_rules! known {
        ($($t:ty),* $(,)?) => {
            $(if let Some(v) = value.downcast_ref::<$t>() {
                return Some(v.heap_bytes());
            })*
        };
    }
    known!(
        String,
        Box<str>,
        Arc<str>,
        Vec<u8>,
        Vec<String>,
        Box<[u8]>,
        Arc<[u8]>,
        Arc<String>,
        Arc<Vec<u8>>,
        Arc<Vec<String>>,
        Option<String>,
        Option<Vec<u8>>,
        Option<Vec<String>>,
    );
    None
}

/// `V`'s [`Weigh`] impl behind a downcast: the heap bytes of a `V`, `None` for another type.
pub(crate) type TraitWeigher = fn(&dyn Any) -> Option<usize>;

/// The [`TraitWeigher`] of `V`.
pub(crate) const fn trait_weigher<V: Weigh + Any>() -> TraitWeigher {
    weigh_any::<V>
}

fn weigh_any<V: Weigh + Any>(value: &dyn Any) -> Option<usize> {
    value.downcast_ref::<V>().map(Weigh::heap_bytes)
}

/// What [`ClosureWeigher`] calls.
type AnyHeapBytes = dyn Fn(&dyn Any) -> Option<usize> + Send + Sync;

/// A closure over `&V` behind a downcast: the heap bytes of a `V`, `None` for another type.
#[derive(Clone)]
pub(crate) struct ClosureWeigher(Arc<AnyHeapBytes>);

impl ClosureWeigher {
    /// `weigh` for values of type `V`.
    pub(crate) fn new<V: Any>(weigh: impl Fn(&V) -> usize + Send + Sync + 'static) -> Self {
        ClosureWeigher(Arc::new(move |v: &dyn Any| {
            v.downcast_ref::<V>().map(&weigh)
        }))
    }

    /// The heap bytes of `value`, or `None` when it is not of the weigher's type.
    pub(crate) fn heap_bytes(&self, value: &dyn Any) -> Option<usize> {
        (self.0)(value)
    }
}

impl std::fmt::Debug for ClosureWeigher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClosureWeigher")
    }
}

/// The heap bytes of `value` by the rules in the [module documentation](self): the plan's
/// weigher, the options', the standard types, then the encoded length; 0 when nothing applies.
pub(crate) fn value_heap_bytes<V: Any>(
    value: &V,
    plan: Option<fn(&V) -> usize>,
    options: &EntryOptions,
    encoded_len: Option<usize>,
) -> usize {
    if let Some(weigh) = plan {
        return weigh(value);
    }
    let any: &dyn Any = value;
    options
        .heap_bytes_of(any)
        .or_else(|| std_heap_bytes(any))
        .or(encoded_len)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_collections_count_their_capacity() {
        let mut s = String::with_capacity(100);
        s.push_str("abc");
        assert_eq!(s.heap_bytes(), 100, "capacity, not length");
        let v: Vec<u64> = Vec::with_capacity(10);
        assert_eq!(v.heap_bytes(), 80);
        let strings = vec!["ab".to_string(), "cde".to_string()];
        assert_eq!(
            strings.heap_bytes(),
            2 * 24 + 2 + 3,
            "slots and each item's heap"
        );
        assert_eq!(Box::<str>::from("abcd").heap_bytes(), 4);
        assert_eq!(Arc::<str>::from("abcd").heap_bytes(), 16 + 4);
        assert_eq!(Box::<[u16]>::from([1, 2, 3]).heap_bytes(), 6);
        assert_eq!(Arc::<[u16]>::from([1u16, 2, 3]).heap_bytes(), 16 + 6);
    }

    #[test]
    fn boxes_and_arcs_count_what_they_point_to() {
        let s = "x".repeat(50);
        assert_eq!(Box::new(s.clone()).heap_bytes(), 24 + 50);
        assert_eq!(Arc::new(s.clone()).heap_bytes(), 16 + 24 + 50);
        assert_eq!(Arc::new(7u32).heap_bytes(), 16 + 4);
        assert_eq!(Some(s.clone()).heap_bytes(), 50);
        assert_eq!(None::<String>.heap_bytes(), 0);
        assert_eq!(Ok::<String, u8>(s.clone()).heap_bytes(), 50);
        assert_eq!((1u8, s.clone(), Some(s)).heap_bytes(), 100);
        assert_eq!([String::from("ab"), String::from("c")].heap_bytes(), 3);
        assert_eq!(
            "static".heap_bytes(),
            0,
            "borrowed static data is not owned"
        );
    }

    #[test]
    fn maps_count_their_table_and_entries() {
        let mut m: HashMap<u64, String> = HashMap::new();
        assert_eq!(m.heap_bytes(), 0);
        for i in 0..100 {
            m.insert(i, "v".repeat(10));
        }
        let table = m.heap_bytes() - 100 * 10;
        assert!(
            table >= m.capacity() * size_of::<(u64, String)>(),
            "at least one slot per item it can hold: {table}"
        );
        assert!(table <= 2 * (m.capacity() + 1) * (size_of::<(u64, String)>() + 1) + 16);
        let b: BTreeMap<u32, u32> = (0..70).map(|i| (i, i)).collect();
        assert!(b.heap_bytes() >= 70 * 8, "{}", b.heap_bytes());
        let set: BTreeSet<String> = ["a".to_string()].into();
        assert!(set.heap_bytes() > 24, "a slot and the text");
    }

    #[test]
    fn std_types_are_known_at_run_time() {
        let s = "x".repeat(33);
        assert_eq!(std_heap_bytes(&s), Some(33));
        assert_eq!(std_heap_bytes(&Arc::new(s.clone())), Some(16 + 24 + 33));
        assert_eq!(std_heap_bytes(&Some(vec![1u8; 9])), Some(9));
        assert_eq!(std_heap_bytes(&7u64), None, "not a heap-owning std type");
        #[derive(Clone)]
        struct Mine;
        assert_eq!(std_heap_bytes(&Mine), None);
    }

    #[test]
    fn value_heap_bytes_takes_the_first_rule_that_applies() {
        let s = "x".repeat(40);
        let none = EntryOptions::new();
        let ten: fn(&String) -> usize = |_| 10;
        let five = EntryOptions::new().weigh_by(|_: &String| 5);
        assert_eq!(
            value_heap_bytes(&s, Some(ten), &five, Some(99)),
            10,
            "plan first"
        );
        assert_eq!(
            value_heap_bytes(&s, None, &five, Some(99)),
            5,
            "then options"
        );
        let other = EntryOptions::new().weigh_by(|_: &u32| 5);
        assert_eq!(
            value_heap_bytes(&s, None, &other, Some(99)),
            40,
            "a weigher of another type is skipped; a std type is known"
        );
        #[derive(Clone)]
        struct Opaque;
        assert_eq!(
            value_heap_bytes(&Opaque, None, &none, Some(99)),
            99,
            "payload"
        );
        assert_eq!(value_heap_bytes(&Opaque, None, &none, None), 0);
        let by_trait = EntryOptions::new().weigh::<Vec<u8>>();
        assert_eq!(value_heap_bytes(&vec![0u8; 12], None, &by_trait, None), 12);
        let t = trait_weigher::<Vec<u8>>();
        assert_eq!(t(&s), None, "another type");
    }
}
