//! IronLB speaker: decides per IP which node announces it, and announces it.
