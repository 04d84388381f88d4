//! tfplugin (placeholder until its issue lands).
