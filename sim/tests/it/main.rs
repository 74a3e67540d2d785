//! The simulation's own tests: seeds hold every invariant, a seed replays byte for byte, the
//! simulated Redis answers as a real one does, and the simulated network keeps its rules.

mod fidelity;
mod net;
mod replay;
mod seeds;
