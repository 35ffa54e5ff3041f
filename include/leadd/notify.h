/* notify.h: telling the service manager (systemd's Type=notify) where leadd
 * stands, by its documented datagram protocol (sd_notify(3)), without
 * libsystemd. */
#ifndef LEADD_NOTIFY_H
#define LEADD_NOTIFY_H

/* notify_manager: sends state ("READY=1", "STOPPING=1") to $NOTIFY_SOCKET;
 * nothing when it is not set. Returns 0, or LEADD_EIO when sending failed. */
int notify_manager(const char *state);

#endif
