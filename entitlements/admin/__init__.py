"""The admin console: server-rendered pages under /admin, and the admins who may use them."""
