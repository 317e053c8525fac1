//! Runs scenarios on this machine's Linux kernel and reads what it exposes. Never uses the model.
