"""What people read: self-contained HTML pages, terminal tables and JUnit XML."""
