//! The chaos suite's harness: network namespaces with real `rampart`
//! processes and real traffic. The fault injection comes with its issue;
//! the namespace lab is already shared by the real-packet tests.

pub mod lossy;
pub mod netns;
pub mod node;
