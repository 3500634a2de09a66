//! Generated-code support for weighing values against an L1 byte budget.

use std::marker::PhantomData;
use std::ops::Deref;

use cache_core::__private::LoadPlan;
use cache_core::Weigh;

/// `weigh = |v| ...`: a closure over the value that captures nothing (or a `fn`), returning the
/// bytes the value owns on the heap.
pub fn weigher<V>(heap_bytes: fn(&V) -> usize) -> fn(&V) -> usize {
    heap_bytes
}

/// How a `#[cached]` function's values are weighed without `weigh = ...`, chosen by the value
/// type: `WeighIfWeigh::<V>::NEW.apply(plan)` resolves to the first `apply` whose bounds hold:
/// `V`'s [`Weigh`] impl when it has one, else nothing ([`KeepWeigher`]: the runtime's rules).
pub struct WeighIfWeigh<V>(PhantomData<fn(&V)>, KeepWeigher<V>);

/// The fallback of [`WeighIfWeigh`]: the value type does not implement [`Weigh`].
pub struct KeepWeigher<V>(PhantomData<fn(&V)>);

impl<V> WeighIfWeigh<V> {
    /// The probe.
    pub const NEW: Self = WeighIfWeigh(PhantomData, KeepWeigher(PhantomData));
}

impl<V: Weigh> WeighIfWeigh<V> {
    /// `V: Weigh`: an L1 with a byte budget weighs each value by its heap bytes.
    #[inline]
    pub fn apply<'a, E>(&self, plan: LoadPlan<'a, V, E>) -> LoadPlan<'a, V, E> {
        plan.weigh(V::heap_bytes)
    }
}

impl<V> KeepWeigher<V> {
    /// `V` does not implement `Weigh`: the plan is left as it is.
    #[inline]
    pub fn apply<'a, E>(&self, plan: LoadPlan<'a, V, E>) -> LoadPlan<'a, V, E> {
        plan
    }
}

impl<V> Deref for WeighIfWeigh<V> {
    type Target = KeepWeigher<V>;
    fn deref(&self) -> &KeepWeigher<V> {
        &self.1
    }
}
