; example.com: a small but realistic zone, served by the default configuration.
$ORIGIN example.com.
$TTL 3600
@               IN SOA  ns1.example.com. hostmaster.example.com. (
                        2026112301 ; serial
                        7200       ; refresh
                        3600       ; retry
                        1209600    ; expire
                        300 )      ; minimum (negative-answer TTL)
                NS      ns1
                NS      ns2
                MX      10 mail
                MX      20 mail2.example.net.
                TXT     "v=spf1 mx -all"
                A       192.0.2.1
                AAAA    2001:db8::1

ns1             A       192.0.2.53
                AAAA    2001:db8::53
ns2             A       198.51.100.53
mail            A       192.0.2.25
                AAAA    2001:db8::25
www             A       192.0.2.80
                AAAA    2001:db8::80
ftp             CNAME   www
; a chain: alias -> web -> www
alias           CNAME   web
web             CNAME   www
; a chain that leaves the zone
cdn             CNAME   cdn.example.net.
; a chain ending nowhere (NXDOMAIN after the CNAME)
broken          CNAME   missing
; a loop
loop1           CNAME   loop2
loop2           CNAME   loop1
; a wildcard, and a name beside it that shadows it
*.apps          A       192.0.2.100
                TXT     "wildcard"
special.apps    A       192.0.2.101
*.alias-wild    CNAME   www
; an empty non-terminal: b.ent has data, ent itself has none
a.b.ent         A       192.0.2.7
; services
_sip._udp       SRV     10 60 5060 sip
sip             A       192.0.2.60
; a delegated child with in-zone glue and out-of-zone name servers
sub             NS      ns1.sub
                NS      ns.example.net.
ns1.sub         A       192.0.2.153
                AAAA    2001:db8::153
secure          NS      ns1.secure
                DS      12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
ns1.secure      A       192.0.2.154
; DNAME: everything under old.example.com. moves to example.org.
old             DNAME   example.org.
; a long TXT RRset, to exercise truncation
big             TXT     "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
                TXT     "1123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
                TXT     "2123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
                TXT     "3123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
                TXT     "4123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
                TXT     "5123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
; an unknown type in RFC 3597 generic syntax
generic         TYPE65280 \# 4 0A000001
