//! Runs a scenario on the model: statements to model operations, oracle and invariant checks after every statement.
