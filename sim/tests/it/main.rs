//! The simulation's own tests: seeds hold every invariant, a seed replays byte for byte, and
//! the simulated Redis answers as a real one does.

mod fidelity;
mod replay;
mod seeds;
