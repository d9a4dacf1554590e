//! picket-wire: the serial wire protocol between sensors and picketd.
#![cfg_attr(not(feature = "std"), no_std)]
