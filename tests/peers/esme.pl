#!/usr/bin/perl
# esme.pl — a customer's SMPP client on Debian's Net::SMPP (libnet-smpp-perl),
# a second ESME independent of WARP's codec and of the npm package.
#
# Usage: esme.pl '<json config>'   config: {host, port}
# Speaks the same JSON-lines protocol as esme.js, for the commands Net::SMPP
# can do synchronously:
#   {"cmd":"bind", "mode", "system_id", "password", "tag"}  -> bind_resp
#   {"cmd":"submit", "fields": {...}, "tag"}                -> submit_sm_resp
#   {"cmd":"read", "seconds", "tag"}   reads PDUs for up to that long: each
#       deliver_sm is acknowledged and printed, then "read_done"
#   {"cmd":"pdu", "command": "query_sm"|"cancel_sm"|"replace_sm", "fields", "tag"}
#       -> <command>_resp (with message_state, final_date, error_code for query_sm)
#   {"cmd":"enquire_link", "tag"} / {"cmd":"unbind", "tag"} / {"cmd":"exit"}
# A connection the server closes prints "closed" and ends the process.
use strict;
use warnings;
use IO::Select;
use JSON::PP;
use Net::SMPP;

$| = 1;
my $json = JSON::PP->new->canonical;
my $cfg = $json->decode($ARGV[0] || '{}');
my $smpp = Net::SMPP->new_connect($cfg->{host} || '127.0.0.1', port => $cfg->{port} || 2775,
    smpp_version => 0x34, async => 0, timeout => 10);

sub emit { print $json->encode($_[0]), "\n"; }

unless ($smpp) {
    emit({ ev => 'error', detail => "connect: $!" });
    exit 1;
}
emit({ ev => 'connected' });

sub closed {
    emit({ ev => 'closed' });
    exit 0;
}

sub answer {
    my ($ev, $tag, $pdu) = @_;
    closed() unless $pdu;
    my %out = (ev => $ev, tag => $tag, command_status => $pdu->{status});
    $out{message_id} = $pdu->{message_id} if defined $pdu->{message_id};
    $out{system_id} = $pdu->{system_id} if defined $pdu->{system_id};
    for my $k (qw(final_date message_state error_code)) {
        $out{$k} = $pdu->{$k} if defined $pdu->{$k};
    }
    emit(\%out);
}

sub op {
    my ($c) = @_;
    my $op = $c->{command} || '';
    return emit({ ev => 'error', detail => "command $op" })
        unless $op =~ /^(query_sm|cancel_sm|replace_sm)$/;
    answer("${op}_resp", $c->{tag}, $smpp->$op(%{ $c->{fields} || {} }));
}

sub do_bind {
    my ($c) = @_;
    my %m = (transceiver => 'bind_transceiver', transmitter => 'bind_transmitter',
        receiver => 'bind_receiver');
    my $op = $m{ $c->{mode} || 'transceiver' } or return emit({ ev => 'error', detail => 'mode' });
    answer('bind_resp', $c->{tag}, $smpp->$op(system_id => $c->{system_id},
        password => $c->{password}, system_type => $c->{system_type} || ''));
}

sub submit {
    my ($c) = @_;
    my %f = %{ $c->{fields} || {} };
    if (defined $f{hex}) {
        $f{short_message} = pack('H*', delete $f{hex});
    } elsif (defined $f{short_message} && ($f{data_coding} || 0) == 8) {
        require Encode;
        $f{short_message} = Encode::encode('UTF-16BE', $f{short_message});
    }
    answer('submit_sm_resp', $c->{tag}, $smpp->submit_sm(%f));
}

sub read_for {
    my ($c) = @_;
    my $sel = IO::Select->new($smpp);
    my $until = time + ($c->{seconds} || 5);
    while ((my $left = $until - time) > 0) {
        last unless $sel->can_read($left);
        my $pdu = $smpp->read_pdu() or closed();
        if ($pdu->{cmd} == Net::SMPP::CMD_deliver_sm) {
            emit({ ev => 'deliver_sm', source_addr => $pdu->{source_addr},
                destination_addr => $pdu->{destination_addr}, esm_class => $pdu->{esm_class},
                data_coding => $pdu->{data_coding}, text => $pdu->{short_message},
                receipted_message_id => defined $pdu->{receipted_message_id}
                ? $pdu->{receipted_message_id} =~ s/\0+$//r : undef });
            $smpp->deliver_sm_resp(seq => $pdu->{seq}, message_id => '');
        } elsif ($pdu->{cmd} == Net::SMPP::CMD_enquire_link) {
            $smpp->enquire_link_resp(seq => $pdu->{seq});
        } else {
            emit({ ev => 'pdu', cmd => $pdu->{cmd}, command_status => $pdu->{status} });
        }
    }
    emit({ ev => 'read_done', tag => $c->{tag} });
}

while (my $line = <STDIN>) {
    my $c = eval { $json->decode($line) };
    unless ($c) {
        emit({ ev => 'error', detail => "bad command: $line" });
        next;
    }
    my $cmd = $c->{cmd} || '';
    if ($cmd eq 'bind') { do_bind($c) }
    elsif ($cmd eq 'submit') { submit($c) }
    elsif ($cmd eq 'read') { read_for($c) }
    elsif ($cmd eq 'pdu') { op($c) }
    elsif ($cmd eq 'enquire_link') { answer('enquire_link_resp', $c->{tag}, $smpp->enquire_link()) }
    elsif ($cmd eq 'unbind') { answer('unbind_resp', $c->{tag}, $smpp->unbind()) }
    elsif ($cmd eq 'exit') { last }
}
exit 0;
