// hwq primitive: frame splitter (serialiser), one wide beat -> BEATS narrow beats.
//
// Each input beat comes out as BEATS output beats, beat k being s_axis_tdata[k*BEAT_WIDTH +: BEAT_WIDTH],
// beat 0 first. The wide beat is held in a register that shifts down by one beat per output transfer.
// The next wide beat is accepted in the cycle the last narrow beat of the current one is taken, so
// without back-pressure one output beat flows per cycle (no bubble between frames). m_axis_tvalid and
// m_axis_tdata are registers; s_axis_tready is combinational (!m_axis_tvalid, or the last beat being
// taken). BEATS = 1 is a plain pipeline register.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module hwq_frame_split #
(
    // bits of one output beat
    parameter BEAT_WIDTH = 8,
    // output beats per input beat
    parameter BEATS = 4
)
(
    input  wire                          clk,
    input  wire                          rst,

    input  wire [BEATS*BEAT_WIDTH-1:0]   s_axis_tdata,
    input  wire                          s_axis_tvalid,
    output wire                          s_axis_tready,

    output wire [BEAT_WIDTH-1:0]         m_axis_tdata,
    output wire                          m_axis_tvalid,
    input  wire                          m_axis_tready
);

// bits needed to hold the value v (at least 1)
function integer bits_for;
    input integer v;
    integer r;
    begin
        r = 1;
        while (r < 31 && (v >> r) != 0) r = r + 1;
        bits_for = r;
    end
endfunction

localparam CW = bits_for(BEATS - 1);
localparam [31:0] LAST_I = BEATS - 1;
localparam [CW-1:0] LAST = LAST_I[CW-1:0];

// synthesis translate_off
initial begin
    if (BEAT_WIDTH < 1 || BEATS < 1) begin
        $display("Error: hwq_frame_split: BEAT_WIDTH and BEATS must be >= 1 (got %0d, %0d)", BEAT_WIDTH, BEATS);
        $finish;
    end
end
// synthesis translate_on

reg [BEATS*BEAT_WIDTH-1:0] data_reg, data_next;
reg                        valid_reg, valid_next;
// index of the beat on the output
reg [CW-1:0]               count_reg, count_next;

wire last = count_reg == LAST;
wire m_fire = valid_reg && m_axis_tready;

assign m_axis_tdata = data_reg[BEAT_WIDTH-1:0];
assign m_axis_tvalid = valid_reg;
assign s_axis_tready = !valid_reg || (m_axis_tready && last);

always @* begin
    data_next = data_reg;
    count_next = count_reg;
    valid_next = valid_reg;

    if (m_fire) begin
        // next beat of this frame (the register shifts down by one beat)
        data_next = data_reg >> BEAT_WIDTH;
        if (last) begin
            count_next = {CW{1'b0}};
            valid_next = 1'b0;
        end else begin
            count_next = count_reg + 1'b1;
        end
    end
    if (s_axis_tvalid && s_axis_tready) begin
        data_next = s_axis_tdata;
        count_next = {CW{1'b0}};
        valid_next = 1'b1;
    end
end

always @(posedge clk) begin
    data_reg <= data_next;
    valid_reg <= valid_next;
    count_reg <= count_next;

    if (rst) begin
        valid_reg <= 1'b0;
        count_reg <= {CW{1'b0}};
    end
end

endmodule

`resetall
