/* embedded.h: config/routing.yaml, compiled in (cmake/embed.cmake). */
#ifndef RD_EMBEDDED_H
#define RD_EMBEDDED_H

extern const char rd_embedded_routing[];
extern const unsigned long rd_embedded_routing_len;

#define RD_EMBEDDED_ROUTING_NAME "(built-in)/routing.yaml"

#endif
