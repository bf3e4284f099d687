const amqp = require('amqplib/callback_api');
amqp.connect('amqp://localhost', (error0, connection) => {
if (error0) throw error0;
connection.createChannel((error1, channel) => {
if (error1) throw error1;
const queue = 'user_events';
const msg = JSON.stringify({ type: 'USER_REGISTERED', data: { userId: 12345 } });
channel.assertQueue(queue, { durable: false });
channel.sendToQueue(queue, Buffer.from(msg));
console.log(" [x] Sent %s", msg);
});
});
