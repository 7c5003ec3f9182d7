#!/bin/bash
set -u
A=nfwk-pcap-a; B=nfwk-pcap-b
cleanup() { ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null; }
trap cleanup EXIT
ip netns add $A; ip netns add $B
ip -n $A link add veth0 type veth peer name veth1 netns $B
ip -n $A addr add 10.99.0.1/24 dev veth0
ip -n $B addr add 10.99.0.2/24 dev veth1
for n in $A $B; do ip -n $n link set lo up; done
ip -n $A link set veth0 up; ip -n $B link set veth1 up
sleep 1
ip -n $A -j link show > "${OUT:-.}"/a-link.json
cd "${OUT:-.}"
ip netns exec $A tcpdump -i any -Q in -U -w any.pcap 2>tcpdump-any.err &
P1=$!
ip netns exec $A tcpdump -i veth0 -Q in -U -w eth.pcap 2>tcpdump-eth.err &
P2=$!
ip netns exec $A tcpdump -i any -y LINUX_SLL -Q in -U -w sll.pcap 2>tcpdump-sll.err &
P3=$!
# TCP listener in A
ip netns exec $A python3 -c "
import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR,1); s.bind(('10.99.0.1',8080)); s.listen(1); s.settimeout(5)
c,_=s.accept(); c.recv(100); c.close(); s.close()" &
P4=$!
sleep 1.5
ip netns exec $B python3 -c "
import socket,struct
def ck(b):
    s=sum(struct.unpack('!%dH'%(len(b)//2),b)); s=(s>>16)+(s&0xffff); s+=s>>16; return (~s)&0xffff
p=b'abcdefgh'*7
h=struct.pack('!BBHHH',8,0,0,0x1234,1)
h=struct.pack('!BBHHH',8,0,ck(h+p),0x1234,1)
r=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_ICMP); r.settimeout(2); r.sendto(h+p,('10.99.0.1',0)); r.recv(200)"
ip netns exec $B python3 -c "
import socket
c=socket.create_connection(('10.99.0.1',8080)); c.sendall(b'hello\n'); c.close()"
ip netns exec $B bash -c 'echo > /dev/tcp/10.99.0.1/9' 2>/dev/null
ip netns exec $B python3 -c "
import socket
u=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('10.99.0.2',5353)); u.sendto(b'x'*12, ('10.99.0.1',53))"
ip netns exec $A python3 -c "
import socket
u=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('10.99.0.1',40000)); u.sendto(b'y'*5, ('10.99.0.2',33434))"
sleep 1
wait $P4
kill -INT $P1 $P2 $P3; wait $P1 $P2 $P3
cat tcpdump-*.err
