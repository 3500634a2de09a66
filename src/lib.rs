//! facade (wip)
