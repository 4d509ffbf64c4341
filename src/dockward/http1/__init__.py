"""Sans-IO HTTP/1.1 framing for the gateway: bytes in, heads and body boundaries out (and, in
``client``, the GET requests and responses of dockward's own questions to a daemon).

Nothing here touches a socket. Request heads are parsed by ``httptools`` (llhttp) and then held
to dockerd's stricter rules; body framing is tracked here because the gateway must forward
response bytes untouched (chunked stays chunked, flushed as it comes) and must know exactly where
each message ends, including the cases llhttp cannot know about (HEAD replies, a body on an
upgrade request, the raw-stream answer to attach).
"""
