//! The chaos suite: real `rampart` processes in network namespaces under faults.
//!
//! Empty until the node daemon exists to be driven from outside.
